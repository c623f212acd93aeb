package indexsync.bench;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.coalesce;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.collect_list;
import static org.apache.spark.sql.functions.date_format;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.map;
import static org.apache.spark.sql.functions.sort_array;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.when;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * Arm P of the bench (bench/README.md): what a data engineer would run instead
 * of indexsync. Spark in local mode reads the three user tables with the
 * DataStax Spark Cassandra connector (and the organisation names, for the
 * membership and root organisation names), groups memberships and roles per
 * user, joins them onto the user rows and writes one document per user, _id =
 * the user id, into an existing index with the OpenSearch Spark connector.
 *
 * <p>The document follows docs/sunbird.md (the user document) as far as a
 * DataFrame pipeline reasonably does; bench/README.md lists what differs from
 * indexsync's. Prints one JSON line on stdout: {"seconds": the measured part},
 * from a ready SparkSession to the end of the write (the session start, like
 * indexsync's connecting, is not measured; it is in the process's wall time).
 *
 * <p>Usage: SparkPeer --cassandra HOST:PORT --keyspace KS --search-url URL
 * --index INDEX [--master local[2]] [--batch-entries 500] [--batch-bytes
 * 5242880] [--local-dir DIR]. The Cassandra login comes from
 * INDEXSYNC_CASSANDRA_USERNAME and INDEXSYNC_CASSANDRA_PASSWORD.
 */
public final class SparkPeer {
  private SparkPeer() {}

  /** Column names that differ from their document field (internal/sunbird/names.go). */
  private static final Map<String, String> RENAMES = new HashMap<>();

  static {
    String[] pairs = {
      "alltncaccepted", "allTncAccepted", "countrycode", "countryCode", "createdby", "createdBy",
      "createddate", "createdDate", "emailverified", "emailVerified", "firstname", "firstName",
      "flagsvalue", "flagsValue", "isdeleted", "isDeleted", "lastname", "lastName",
      "locationids", "locationIds", "loginid", "loginId", "managedby", "managedBy",
      "maskedemail", "maskedEmail", "maskedphone", "maskedPhone", "phoneverified", "phoneVerified",
      "prevusedemail", "prevUsedEmail", "prevusedphone", "prevUsedPhone",
      "profiledetails", "profileDetails", "profilelocation", "profileLocation",
      "profileusertype", "profileUserType", "profileusertypes", "profileUserTypes",
      "recoveryemail", "recoveryEmail", "recoveryphone", "recoveryPhone", "rootorgid", "rootOrgId",
      "tncacceptedon", "tncAcceptedOn", "tncacceptedversion", "tncAcceptedVersion",
      "updatedby", "updatedBy", "updateddate", "updatedDate", "userid", "userId",
      "username", "userName", "usersubtype", "userSubType", "usertype", "userType",
      "organisationid", "organisationId", "addedby", "addedBy", "addedbyname", "addedByName",
      "approvedby", "approvedBy", "associationtype", "associationType", "hashtagid", "hashTagId",
      "isapproved", "isApproved", "isrejected", "isRejected", "orgleftdate", "orgLeftDate",
    };
    for (int i = 0; i < pairs.length; i += 2) {
      RENAMES.put(pairs[i], pairs[i + 1]);
    }
  }

  /** The user fields Sunbird always writes as null (docs/sunbird.md, the user document). */
  private static final String[] OVERLAY_NULL = {
    "avatar", "gender", "language", "lastLoginTime", "location", "profileSummary",
    "profileVisibility", "tempPassword", "thumbnail", "registryId", "accesscode", "webPages",
    "currentLoginTime", "loginId",
  };

  private static String field(String column) {
    return RENAMES.getOrDefault(column, column);
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> a = parseArgs(args);
    URI search = URI.create(a.get("search-url"));
    String[] hostPort = a.get("cassandra").split(":", 2);

    SparkSession.Builder b = SparkSession.builder()
        .appName("indexsync-bench-peer")
        .master(a.getOrDefault("master", "local[2]"))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.cassandra.connection.host", hostPort[0])
        .config("spark.cassandra.connection.port", hostPort.length > 1 ? hostPort[1] : "9042");
    String user = System.getenv("INDEXSYNC_CASSANDRA_USERNAME");
    if (user != null && !user.isEmpty()) {
      b.config("spark.cassandra.auth.username", user)
          .config("spark.cassandra.auth.password", System.getenv("INDEXSYNC_CASSANDRA_PASSWORD"));
    }
    if (a.containsKey("local-dir")) {
      b.config("spark.local.dir", a.get("local-dir"))
          .config("spark.sql.warehouse.dir", a.get("local-dir") + "/warehouse");
    }
    SparkSession spark = b.getOrCreate();
    spark.sparkContext().setLogLevel("WARN");

    long start = System.nanoTime();
    String ks = a.get("keyspace");
    Dataset<Row> docs = userDocuments(
        table(spark, ks, "user"), table(spark, ks, "user_organisation"),
        table(spark, ks, "user_roles"), table(spark, ks, "organisation").select("id", "orgname"));

    Map<String, String> out = new HashMap<>();
    out.put("opensearch.nodes", search.getHost());
    out.put("opensearch.port", String.valueOf(search.getPort() > 0 ? search.getPort() : 9200));
    out.put("opensearch.nodes.wan.only", "true");
    out.put("opensearch.index.auto.create", "false");
    out.put("opensearch.write.operation", "index");
    out.put("opensearch.mapping.id", "id");
    // nulls as indexsync writes them (the connector leaves them out by default)
    out.put("opensearch.spark.dataframe.write.null", "true");
    // the bench refreshes before counting, as it does for T
    out.put("opensearch.batch.write.refresh", "false");
    out.put("opensearch.batch.size.entries", a.getOrDefault("batch-entries", "500"));
    out.put("opensearch.batch.size.bytes", a.getOrDefault("batch-bytes", "5242880"));
    docs.write().format("opensearch").options(out).mode(SaveMode.Append).save(a.get("index"));

    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.println("{\"seconds\":" + seconds + "}");
    spark.stop();
  }

  private static Dataset<Row> table(SparkSession spark, String keyspace, String name) {
    return spark.read().format("org.apache.spark.sql.cassandra")
        .option("keyspace", keyspace).option("table", name).load();
  }

  /** The user documents: every user row with its organisations and roles. */
  static Dataset<Row> userDocuments(Dataset<Row> users, Dataset<Row> memberships, Dataset<Row> roles, Dataset<Row> orgs) {
    Dataset<Row> orgNames = broadcast(orgs.select(col("id").as("org_id"), col("orgname").as("org_name")));

    // organisations: memberships that are not deleted (isdeleted false; a
    // null counts as deleted, as in indexsync), each with its
    // organisation's name, ordered by organisation id
    Dataset<Row> m = memberships.where(col("isdeleted").equalTo(false)).drop("roles")
        .join(orgNames, col("organisationid").equalTo(col("org_id")), "left");
    List<Column> mf = new ArrayList<>();
    mf.add(col("organisationid").as("organisationId")); // first: sort_array orders by it
    for (String c : memberships.columns()) {
      if (!c.equals("organisationid") && !c.equals("roles")) {
        mf.add(col(c).as(field(c)));
      }
    }
    mf.add(col("org_name").as("orgName"));
    Dataset<Row> orgsPerUser = m.groupBy(col("userid").as("m_userid"))
        .agg(sort_array(collect_list(struct(mf.toArray(new Column[0])))).as("organisations"));

    // roles: user_roles rows without userId, scope parsed, ordered by role
    List<Column> rf = new ArrayList<>();
    rf.add(col("role"));
    for (String c : roles.columns()) {
      if (c.equals("scope")) {
        rf.add(coalesce(from_json(col("scope"), JSON_ARRAY), emptyArray(JSON_ARRAY)).as("scope"));
      } else if (!c.equals("role") && !c.equals("userid")) {
        rf.add(col(c).as(field(c)));
      }
    }
    // (sort_array cannot order structs that hold maps: order by role alone)
    Dataset<Row> rolesPerUser = roles.groupBy(col("userid").as("r_userid"))
        .agg(collect_list(struct(rf.toArray(new Column[0]))).as("roles"))
        .withColumn("roles", expr("array_sort(roles, (l, r) -> CASE WHEN l.role < r.role THEN -1 WHEN l.role > r.role THEN 1 ELSE 0 END)"));

    // the user row under Sunbird's field names; the legacy roles column is
    // replaced by user_roles, password is never written
    List<Column> uf = new ArrayList<>();
    for (String c : users.columns()) {
      if (!c.equals("roles") && !c.equals("password")) {
        uf.add(col(c).as(field(c)));
      }
    }
    Dataset<Row> u = users.select(uf.toArray(new Column[0]))
        .withColumn("profileLocation", coalesce(from_json(col("profileLocation"), JSON_ARRAY), emptyArray(JSON_ARRAY)))
        .withColumn("profileUserType", coalesce(from_json(col("profileUserType"), JSON_OBJECT), emptyObject()))
        .withColumn("profileUserTypes", coalesce(from_json(col("profileUserTypes"), JSON_ARRAY), emptyArray(JSON_ARRAY)))
        .withColumn("profileDetails", from_json(col("profileDetails"), JSON_OBJECT))
        .withColumn("allTncAccepted", expr("transform_values(allTncAccepted,"
            + " (k, v) -> coalesce(from_json(v, 'map<string,string>'), cast(map() as map<string,string>)))"))
        .withColumn("tncAcceptedOn", date_format(col("tncAcceptedOn"), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"))
        .withColumn("stateValidated", when(col("flagsValue").isNotNull(), col("flagsValue").geq(4)))
        .withColumn("emailVerified", lit(true))
        .withColumn("phoneVerified", lit(true))
        .withColumn("identifier", col("id"));
    for (String f : OVERLAY_NULL) {
      u = u.withColumn(f, lit(null).cast(DataTypes.StringType));
    }

    Dataset<Row> rootNames = orgNames.select(col("org_id").as("root_id"), col("org_name").as("rootOrgName"));
    Dataset<Row> joined = u.join(rootNames, col("rootOrgId").equalTo(col("root_id")), "left")
        .join(orgsPerUser, col("id").equalTo(col("m_userid")), "left")
        .join(rolesPerUser, col("id").equalTo(col("r_userid")), "left");
    DataType orgsType = orgsPerUser.schema().apply("organisations").dataType();
    DataType rolesType = rolesPerUser.schema().apply("roles").dataType();
    return joined
        .withColumn("organisations", coalesce(col("organisations"), emptyArray(orgsType)))
        .withColumn("roles", coalesce(col("roles"), emptyArray(rolesType)))
        .drop("root_id", "m_userid", "r_userid");
  }

  // JSON text is parsed into maps of strings: Spark needs a schema, and
  // these columns have none; a nested value comes out as its JSON text
  private static final DataType JSON_OBJECT = DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType);
  private static final ArrayType JSON_ARRAY = DataTypes.createArrayType(JSON_OBJECT);

  private static Column emptyArray(DataType type) {
    return array().cast(type);
  }

  private static Column emptyObject() {
    return map().cast(JSON_OBJECT);
  }

  private static Map<String, String> parseArgs(String[] args) {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("usage: SparkPeer --cassandra HOST:PORT --keyspace KS --search-url URL --index INDEX"
            + " [--master local[2]] [--batch-entries N] [--batch-bytes N] [--local-dir DIR]; bad argument " + args[i]);
      }
      a.put(args[i].substring(2), args[++i]);
    }
    for (String k : new String[] {"cassandra", "keyspace", "search-url", "index"}) {
      if (!a.containsKey(k)) {
        throw new IllegalArgumentException("SparkPeer: --" + k + " is required");
      }
    }
    return a;
  }
}
