package models

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// insertRows writes new rows in bulk. With skipDuplicatesOf set to a unique column, a row
// whose value there already exists is skipped.
//
// On PostgreSQL every row travels in one JSON parameter that json_populate_recordset
// expands into the table's row type. The statement text is the same whatever the number of
// rows, so it is parsed once per connection and planned in microseconds; a multi-row VALUES
// list has one parameter per cell, is a new statement for every row count, and is planned
// afresh on each run (the connection asks for custom plans) — most of a large group commit's
// time on PostgreSQL went there. On SQLite, multi-row INSERTs in chunks (SQLite caps the
// number of bound variables in one statement).
func insertRows[T any](ctx context.Context, s *Store, rows []T, skipDuplicatesOf string) error {
	if len(rows) == 0 {
		return nil
	}
	q := s.q(ctx)
	if s.Dialect() != DialectPostgres {
		if skipDuplicatesOf != "" {
			q = q.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: skipDuplicatesOf}}, DoNothing: true})
		}
		return createChunked(q, rows, 200)
	}
	stmt := &gorm.Statement{DB: q}
	if err := stmt.Parse(&rows); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	sch := stmt.Schema
	// A zero primary key is left to the table's sequence.
	first := reflect.Indirect(reflect.ValueOf(rows[0]))
	var fields []*schema.Field
	for _, f := range sch.Fields {
		if f.DBName == "" || !f.Creatable {
			continue
		}
		if f.PrimaryKey && f.AutoIncrement {
			if _, zero := f.ValueOf(ctx, first); zero {
				continue
			}
		}
		fields = append(fields, f)
	}
	now := time.Now()
	data := make([]map[string]any, len(rows))
	for i := range rows {
		rv := reflect.Indirect(reflect.ValueOf(rows[i]))
		row := make(map[string]any, len(fields))
		for _, f := range fields {
			v, zero := f.ValueOf(ctx, rv)
			if zero && (f.AutoCreateTime > 0 || f.AutoUpdateTime > 0) {
				v = now
			}
			cell, err := jsonCell(v)
			if err != nil {
				return fmt.Errorf("bulk insert into %s, column %s: %w", sch.Table, f.DBName, err)
			}
			row[f.DBName] = cell
		}
		data[i] = row
	}
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("bulk insert into %s: %w", sch.Table, err)
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = `"` + f.DBName + `"`
	}
	list := strings.Join(cols, ",")
	sql := fmt.Sprintf(`INSERT INTO "%s" (%s) SELECT %s FROM json_populate_recordset(NULL::"%s", ?)`,
		sch.Table, list, list, sch.Table)
	if skipDuplicatesOf != "" {
		sql += fmt.Sprintf(` ON CONFLICT ("%s") DO NOTHING`, skipDuplicatesOf)
	}
	return q.Exec(sql, string(payload)).Error
}

// jsonCell turns a column value into what json_populate_recordset reads back as that value.
func jsonCell(v any) (any, error) {
	if dv, ok := v.(driver.Valuer); ok { // serializer fields (JSON text) and custom types
		var err error
		if v, err = dv.Value(); err != nil {
			return nil, err
		}
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, nil
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, nil
		}
		rv = rv.Elem()
	}
	if t, ok := rv.Interface().(time.Time); ok {
		// The drivers keep microseconds, truncating; say so explicitly rather than let
		// the server round nanoseconds.
		return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00"), nil
	}
	return rv.Interface(), nil
}

// createChunked inserts rows with one multi-row INSERT per chunk. Unlike GORM's
// CreateInBatches it opens no savepoint, so a small insert is one statement.
func createChunked[T any](q *gorm.DB, rows []T, chunk int) error {
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		if err := q.Create(&part).Error; err != nil {
			return err
		}
	}
	return nil
}
