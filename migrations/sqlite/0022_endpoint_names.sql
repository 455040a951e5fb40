-- An endpoint's name: what people call it, shown instead of its URL ('' =
-- none).
alter table endpoints add column name text not null default '';
