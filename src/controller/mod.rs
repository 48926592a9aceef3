//! The controllers, one per kind, and the machinery they share.
