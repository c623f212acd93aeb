package cassandra

import (
	"context"
	"fmt"
)

// SystemSetting reads the value of one row of Sunbird's system_settings
// table (id text PRIMARY KEY, field text, value text). found is false when
// the keyspace has no such table or no such row: both are normal in a
// deployment that never changed the setting.
func (s *Session) SystemSetting(ctx context.Context, keyspace, id string) (value string, found bool, err error) {
	var n int
	if err := s.Query(`SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'system_settings'`, keyspace).
		ScanContext(ctx, &n); err != nil {
		return "", false, fmt.Errorf("look for %s.system_settings: %w", keyspace, err)
	}
	if n == 0 {
		return "", false, nil
	}
	rows, err := s.Rows(ctx, fmt.Sprintf("SELECT value FROM %s.system_settings WHERE id = ?", keyspace), id)
	if err != nil {
		return "", false, fmt.Errorf("read %s from %s.system_settings: %w", id, keyspace, err)
	}
	if len(rows) == 0 || rows[0]["value"] == nil {
		return "", false, nil
	}
	v, _ := rows[0]["value"].(string)
	return v, true, nil
}
