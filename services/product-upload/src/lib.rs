//! The product-upload consumer: imports product catalogue files into the catalog schema.
