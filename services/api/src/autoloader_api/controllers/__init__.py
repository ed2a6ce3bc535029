"""HTTP controllers: framework glue only; the work happens in commands, queries and the domain."""
