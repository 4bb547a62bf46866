"""The batch processor: groups data into fewer, larger batches."""
