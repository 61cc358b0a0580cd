//! Clustering of face embeddings (filled in by issue 7).
