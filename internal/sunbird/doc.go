// Package sunbird builds Sunbird search documents (user, organisation,
// location) from Cassandra rows, as docs/sunbird.md (field names, the documents) describes them.
//
// Everything here is a pure function of its input: no I/O, no clock, no
// package state beyond read-only tables. Documents are defined by BuildUser,
// BuildOrganisation and BuildLocation and serialised with Document.Encode /
// Document.AppendJSON. The range scans of the sync job (--target search),
// the verifier and the Sync API service (package store) write the same
// bytes straight from rows with an Appender (append.go), which compiles
// BuildUser's steps once per query's columns; its tests hold it to
// BuildUser+Encode.
//
// # Input
//
// A Row is one Cassandra row keyed by lower-case column name, with the values
// the gocql driver produces and nil for null. Any column is carried through,
// not just the ones docs/sunbird.md (tables) lists. Nothing in the input is modified;
// documents may share slices and maps with it.
//
// # Encoding
//
// One rule everywhere: object keys sorted bytewise, no insignificant
// whitespace, and strings escaped exactly as encoding/json does by default
// (including its HTML-safe escaping of <, > and & as \u003c, \u003e, \u0026,
// and of U+2028/U+2029; invalid UTF-8 becomes U+FFFD). That is the rule
// json.Marshal applies to the output of a MarshalJSON method anyway, so
// Encode, json.Marshal(doc) and a json.Encoder all give the same bytes. Numbers
// parsed from JSON text are kept as json.Number, so they are written back with
// their original digits.
//
// # Decisions where docs/sunbird.md is silent
//
// They follow Sunbird-Lern/userorg-service (master a68ca7c09) unless Sunbird's
// behaviour is a failure we do not want to copy.
//
//   - Field names: Sunbird's whole rename list (cassandratablecolumn.properties)
//     is used, not only the entries docs/sunbird.md (field names) quotes; organisationsubtype
//     becomes organisationSubType, as in Sunbird since release 4.9. See
//     names.go.
//
//   - Timestamps (tncAcceptedOn, and any other timestamp column): UTC,
//     millisecond precision, "2006-01-02T15:04:05.000Z". Sunbird hands the
//     driver's java.util.Date to the Elasticsearch 6.8 high-level client
//     (ElasticSearchRestHighImpl.save → IndexRequest.source(map)), whose
//     XContentBuilder prints dates with Joda ISODateTimeFormat.dateTime() in
//     UTC, i.e. yyyy-MM-dd'T'HH:mm:ss.SSS'Z'.
//
//   - Null collections: Cassandra does not tell a null collection from an
//     empty one and Sunbird's Java driver returns empty ones, so the known
//     collection columns of docs/sunbird.md (tables) become {} or [] when nil, and typed nil slices
//     and maps of any column become empty. A nil in an unknown column stays
//     null, because its type is unknown.
//
//   - JSON text fields are parsed as exactly one JSON value (trailing text is
//     invalid). A value of the wrong shape counts as invalid, including the
//     literal null: profileLocation, profileUserTypes, orgLocation and role
//     scope must be arrays (else []); profileUserType must be an object (else
//     {}); profileDetails must be an object (else null). Array elements are
//     not checked. Sunbird (UserServiceImpl.getUserDetailsForES,
//     ProfileUtil.toMap, OrgDaoImpl.enrichOrgDetails,
//     UserRoleServiceImpl.getUserRoles) falls back the same way on parse
//     errors, but Jackson turns the text "null" into null and accepts
//     trailing text; we keep the field's type stable instead.
//
//   - profileLocation, profileUserType, profileUserTypes and roles are always
//     present in a user document, even when the row lacks the column (Sunbird
//     always puts them). profileDetails is only present when the row has the
//     column (Sunbird parses it only when non-null; a null stays null).
//
//   - allTncAccepted: each value that is not a JSON object becomes {}. Sunbird
//     (UserTncUtil.convertTncStringToJsonMap) throws, so the whole user fails
//     to sync; we prefer one empty entry to a user missing from the index.
//
//   - stateValidated: flagsValue may be any Go integer type or a decimal
//     string (Sunbird uses Integer.parseInt(value.toString())); another type
//     adds no stateValidated.
//
//   - organisations: a row whose organisation does not exist gets
//     "orgName": null, like one whose orgname is null. Sunbird
//     (UserServiceImpl.getUserOrgDetails) hits a NullPointerException there and
//     leaves the list half processed; we do not copy that.
//
//   - rootOrgName: looked up only when rootOrgId is a non-blank string
//     (OrgDaoImpl.getOrgById checks StringUtils.isNotBlank); an existing org
//     with a null orgname gives "rootOrgName": null.
//
//   - Order: organisations are sorted by organisationId and roles by role,
//     which is the clustering order Cassandra returns them in, so callers that
//     gather rows differently still produce the same bytes.
//
//   - identifier is the user row's id value (Sunbird sets it to the requested
//     id, which is the same string).
//
//   - Organisation type flags: Sunbird's OrgTypeValidator stops at the first
//     type whose bits are all in the value, in the iteration order of its
//     ConcurrentHashMap; OrgTypes reproduces that order (orgtypes.go), so an
//     organisationType that matches several types gets the same flag as in
//     Sunbird. Flags are only ever set to true; an organisation of no
//     configured type has no isSchool/isBoard key at all, as in Sunbird.
//     Without a system_settings table or orgTypeConfig row the default types
//     apply (School = 2, Board = 5); a row that cannot be parsed sets no
//     flags, as Sunbird's DataCacheHandler leaves its map empty then.
package sunbird
