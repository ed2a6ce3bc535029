"""The Spark Connect engine: sessions, error translation, reading, committing and the cluster probe."""
