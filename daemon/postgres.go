package daemon

import (
	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

func openPostgres(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }
