-- Written by hand: gen.go's output rebuilt the whole table to change one index.

-- +goose Up
DROP INDEX `idx_tasks_user_id_created_at`;
CREATE INDEX `idx_tasks_user_id_created_at` ON `tasks` (`user_id`, `created_at` DESC, `id` DESC);

-- +goose Down
DROP INDEX `idx_tasks_user_id_created_at`;
CREATE INDEX `idx_tasks_user_id_created_at` ON `tasks` (`user_id`, `created_at` DESC);
