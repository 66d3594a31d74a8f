"""One module per dataset, each a `DatasetReader` (harness.data.readers.base) named in harness.config.datasets."""
