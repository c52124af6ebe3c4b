package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/ingest-portal/ingest"
)

// openDB opens the pool of d's driver on dsn. For a database server (PostgreSQL), a connection
// the pool cannot make is EDatabaseUnavailable: while the server is down or restarting, every
// statement needs a new connection, and its failure is the server's absence, not a fault of the
// portal's, which a client may meet by trying again later.
func openDB(d *dialect, dsn string) (*sql.DB, error) {
	db, err := sql.Open(d.driver, dsn)
	if err != nil || d.localFile {
		return db, err
	}
	drv, ok := db.Driver().(driver.DriverContext)
	if !ok {
		return db, nil
	}
	_ = db.Close()
	c, err := drv.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(unavailableConnector{c}), nil
}

// unavailableConnector is a driver's connector whose failures to connect are EDatabaseUnavailable.
type unavailableConnector struct{ driver.Connector }

func (c unavailableConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil && ctx.Err() == nil {
		return nil, &ingest.Error{Code: ingest.EDatabaseUnavailable, Message: "the database is unavailable; try again later",
			Err: fmt.Errorf("connect to the database: %w", err)}
	}
	return conn, err
}
