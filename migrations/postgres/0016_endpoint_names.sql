-- An endpoint's name (SQLite's migration 0022).
alter table endpoints add column name text collate "C" not null default '';
