//! Seeding an empty store for `leadq serve --demo`.
