// Package schema defines the Sunbird tables indexsync reads (docs/sunbird.md, tables)
// and the search indexes it writes (docs/sunbird.md, the indexes), and creates both. It is
// for demos, tests and benchmarks; production clusters already have them.
package schema

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Tables lists the CREATE TABLE statements in creation order; %s is the keyspace.
var Tables = []struct{ Name, CQL string }{
	{"user", `CREATE TABLE IF NOT EXISTS %s.user (
  id text PRIMARY KEY,
  alltncaccepted map<text, text>,
  channel text,
  countrycode text,
  createdby text,
  createddate text,
  dob text,
  email text,
  emailverified boolean,
  firstname text,
  flagsvalue int,
  framework map<text, frozen<list<text>>>,
  isdeleted boolean,
  lastname text,
  locationids list<text>,
  loginid text,
  managedby text,
  maskedemail text,
  maskedphone text,
  phone text,
  phoneverified boolean,
  prevusedemail text,
  prevusedphone text,
  profiledetails text,
  profilelocation text,
  profileusertype text,
  profileusertypes text,
  recoveryemail text,
  recoveryphone text,
  roles list<text>,
  rootorgid text,
  status int,
  tncacceptedon timestamp,
  tncacceptedversion text,
  updatedby text,
  updateddate text,
  userid text,
  username text,
  usersubtype text,
  usertype text
)`},
	{"user_organisation", `CREATE TABLE IF NOT EXISTS %s.user_organisation (
  userid text,
  organisationid text,
  addedby text,
  addedbyname text,
  approvaldate text,
  approvedby text,
  associationtype int,
  hashtagid text,
  id text,
  isapproved boolean,
  isdeleted boolean,
  isrejected boolean,
  orgjoindate text,
  orgleftdate text,
  position text,
  roles list<text>,
  updatedby text,
  updateddate text,
  PRIMARY KEY (userid, organisationid)
)`},
	{"user_roles", `CREATE TABLE IF NOT EXISTS %s.user_roles (
  userid text,
  role text,
  scope text,
  createddate text,
  createdby text,
  updateddate text,
  updatedby text,
  PRIMARY KEY (userid, role)
)`},
	{"organisation", `CREATE TABLE IF NOT EXISTS %s.organisation (
  id text PRIMARY KEY,
  channel text,
  contactdetail text,
  createdby text,
  createddate text,
  description text,
  email text,
  externalid text,
  hashtagid text,
  homeurl text,
  imgurl text,
  isrootorg boolean,
  isssoenabled boolean,
  istenant boolean,
  keys map<text, frozen<list<text>>>,
  locationids list<text>,
  organisationsubtype int,
  organisationtype int,
  orglocation text,
  orgname text,
  provider text,
  rootorgid text,
  slug text,
  status int,
  updatedby text,
  updateddate text
)`},
	{"location", `CREATE TABLE IF NOT EXISTS %s.location (
  id text PRIMARY KEY,
  code text,
  name text,
  parentid text,
  type text
)`},
	// Sunbird's settings; the sync reads orgTypeConfig from it.
	{"system_settings", `CREATE TABLE IF NOT EXISTS %s.system_settings (
  id text PRIMARY KEY,
  field text,
  value text
)`},
}

var identRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// ValidKeyspace reports whether name can be used unquoted as a keyspace.
func ValidKeyspace(name string) bool { return identRE.MatchString(name) }

// Replication turns the --replication flag into a CQL replication map:
//
//	"1" or "SimpleStrategy:1"   → SimpleStrategy with that factor
//	"dc1:3,dc2:2"               → NetworkTopologyStrategy with those factors
//	"{'class': …}"              → used as written
func Replication(spec string) (string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = "1"
	}
	if strings.HasPrefix(spec, "{") {
		return spec, nil
	}
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 {
			return "", fmt.Errorf("--replication %q: the replication factor must be at least 1", spec)
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", n), nil
	}
	if rest, ok := strings.CutPrefix(spec, "SimpleStrategy:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			return "", fmt.Errorf("--replication %q: expected SimpleStrategy:<factor>", spec)
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", n), nil
	}
	dcs := map[string]int{}
	for _, part := range strings.Split(spec, ",") {
		dc, f, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(f)
		if !ok || err != nil || n < 1 || dc == "" || strings.ContainsAny(dc, "'{}") {
			return "", fmt.Errorf("--replication %q: use a factor (1), SimpleStrategy:<n>, or datacenter:factor pairs (dc1:3,dc2:3)", spec)
		}
		dcs[dc] = n
	}
	names := make([]string, 0, len(dcs))
	for dc := range dcs {
		names = append(names, dc)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("{'class': 'NetworkTopologyStrategy'")
	for _, dc := range names {
		fmt.Fprintf(&b, ", '%s': %d", dc, dcs[dc])
	}
	b.WriteString("}")
	return b.String(), nil
}

// Execer runs one CQL statement.
type Execer interface {
	Exec(ctx context.Context, stmt string, args ...any) error
}

// ApplyCassandra creates the keyspace and the tables if they do not exist.
func ApplyCassandra(ctx context.Context, db Execer, keyspace, replication string) error {
	if !ValidKeyspace(keyspace) {
		return fmt.Errorf("keyspace name %q is not a valid CQL identifier", keyspace)
	}
	stmt := fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", keyspace, replication)
	if err := db.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create keyspace %s: %w", keyspace, err)
	}
	for _, t := range Tables {
		if err := db.Exec(ctx, fmt.Sprintf(t.CQL, keyspace)); err != nil {
			return fmt.Errorf("create table %s.%s: %w", keyspace, t.Name, err)
		}
	}
	return nil
}

// Columns returns the column names of one of the Tables, in declaration order.
func Columns(table string) []string {
	for _, t := range Tables {
		if t.Name != table {
			continue
		}
		var cols []string
		body := t.CQL[strings.Index(t.CQL, "(")+1:]
		for _, line := range strings.Split(body, "\n") {
			f := strings.Fields(strings.TrimSpace(line))
			if len(f) < 2 || f[0] == "PRIMARY" {
				continue
			}
			cols = append(cols, f[0])
		}
		return cols
	}
	return nil
}
