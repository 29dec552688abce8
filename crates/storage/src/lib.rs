//! S3-compatible object storage of bgjobs: streaming uploads and downloads of job files.
