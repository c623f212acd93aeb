package store

import (
	"context"
	"fmt"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// OrgTypeConfigID is the system_settings row that holds Sunbird's
// organisation types.
const OrgTypeConfigID = "orgTypeConfig"

// LoadOrgTypes reads the organisation types from system_settings:
// Sunbird's defaults when the table or the row is missing, none when the row
// cannot be parsed (Sunbird then sets no flags either). from says which, for
// the log.
func LoadOrgTypes(ctx context.Context, sess *cassandra.Session, keyspace string) (types sunbird.OrgTypes, from string, err error) {
	value, found, err := sess.SystemSetting(ctx, keyspace, OrgTypeConfigID)
	if err != nil {
		return nil, "", err
	}
	if !found {
		return sunbird.DefaultOrgTypes, "Sunbird's defaults (no " + OrgTypeConfigID + " in " + keyspace + ".system_settings)", nil
	}
	types, perr := sunbird.ParseOrgTypes(value)
	if perr != nil {
		return sunbird.OrgTypes{}, fmt.Sprintf("none: %v (Sunbird sets no isSchool/isBoard flags with this setting either)", perr), nil
	}
	return types, keyspace + ".system_settings " + OrgTypeConfigID, nil
}
