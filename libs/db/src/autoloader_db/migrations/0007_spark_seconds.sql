-- Spark Connect engine: the Spark-side time of each loaded batch (BatchLoaded.spark_seconds), summed into
-- RunMetrics.spark_seconds for the cost model. NULL: the embedded engine loaded the batch.

ALTER TABLE discovery.batches ADD COLUMN spark_seconds double precision;
