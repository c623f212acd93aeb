package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// sparkDir is the Maven project of arm P: the Spark job a data engineer
// would write instead of indexsync (bench/spark/src/main/java/indexsync/bench/SparkPeer.java).
const sparkDir = "bench/spark"

// sparkJob is arm P's program, built: the java to run it with and its
// classpath (java expands the lib/* itself).
type sparkJob struct {
	Java      string
	Classpath string
}

// sparkJVMFlags are the flags spark-submit gives a driver JVM (Spark 3.5's
// org.apache.spark.launcher.JavaModuleOptions): Spark reaches into JDK
// internals that Java 17 closes. -Xmx1g is spark-submit's default
// spark.driver.memory; BENCH_SPARK_OPTS come after these and can override it.
var sparkJVMFlags = []string{
	"-Xmx1g",
	"-XX:+IgnoreUnrecognizedVMOptions",
	"--add-opens=java.base/java.lang=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
	"--add-opens=java.base/java.io=ALL-UNNAMED",
	"--add-opens=java.base/java.net=ALL-UNNAMED",
	"--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/java.util=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
	"--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
	"--add-opens=java.base/sun.security.action=ALL-UNNAMED",
	"--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
	"-Djdk.reflect.useDirectMethodHandle=false",
}

// buildSpark builds the Spark job with Maven (BENCH_PEER=spark): compiles it
// and copies its dependencies (Spark 3.5.8, the Cassandra and OpenSearch
// connectors: about 240 MB from Maven Central the first time) into
// bench/spark/target/lib.
func buildSpark(ctx context.Context, outDir string) (sparkJob, error) {
	java, err := findJava(ctx)
	if err != nil {
		return sparkJob{}, err
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return sparkJob{}, fmt.Errorf("BENCH_PEER=spark: Maven builds the Spark job of %s, and there is no mvn on PATH (install Maven 3.8+, e.g. 'apt-get install -y maven', or unset BENCH_PEER): %w", sparkDir, err)
	}
	logPath := filepath.Join(outDir, "spark-build.log")
	logf("BENCH_PEER=spark: building %s with Maven (the first build downloads Spark and the connectors, about 240 MB; log: %s)", sparkDir, logPath)
	f, err := os.Create(logPath)
	if err != nil {
		return sparkJob{}, err
	}
	defer func() { _ = f.Close() }()
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-f", filepath.Join(sparkDir, "pom.xml"), "compile", "dependency:copy-dependencies")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return sparkJob{}, fmt.Errorf("BENCH_PEER=spark: Maven could not build %s (%w; log: %s): check that Maven Central is reachable, or unset BENCH_PEER to bench without arm P", sparkDir, err, logPath)
	}
	return sparkJob{Java: java, Classpath: sparkDir + "/target/classes:" + sparkDir + "/target/lib/*"}, nil
}

var javaVersionRE = regexp.MustCompile(`version "(\d+)(?:\.(\d+))?`)

// findJava returns $JAVA_HOME/bin/java, or else the java on PATH, and checks
// that Spark 3.5 runs on it (Java 17 or 21; the job is compiled for 17).
func findJava(ctx context.Context) (string, error) {
	java := "java"
	if h := os.Getenv("JAVA_HOME"); h != "" {
		java = filepath.Join(h, "bin", "java")
	}
	path, err := exec.LookPath(java)
	if err != nil {
		return "", fmt.Errorf("BENCH_PEER=spark: the Spark job needs a JDK 17 (%w): install one (apt-get install -y openjdk-17-jdk-headless) or set JAVA_HOME", err)
	}
	out, err := exec.CommandContext(ctx, path, "-version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("BENCH_PEER=spark: %s -version: %w", path, err)
	}
	m := javaVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("BENCH_PEER=spark: cannot tell the version of %s from %q", path, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	if major < 17 || major > 21 {
		return "", fmt.Errorf("BENCH_PEER=spark: %s is Java %d; Spark 3.5 runs on Java 17 or 21: set JAVA_HOME to a JDK 17", path, major)
	}
	return path, nil
}

// sparkArgs are the java arguments of arm P for n users into index, with
// Spark's scratch space (shuffle files) in tmp.
func (b *bench) sparkArgs(n int, index, tmp string) []string {
	args := append([]string{}, sparkJVMFlags...)
	args = append(args, b.cfg.SparkOpts...)
	return append(args, "-Djava.io.tmpdir="+tmp, "-cp", b.spark.Classpath, "indexsync.bench.SparkPeer",
		"--master", sparkMaster(),
		"--cassandra", fmt.Sprintf("%s:%d", b.st.CassandraHost, b.st.CassandraPort), "--keyspace", keyspaceOf(n),
		"--search-url", b.st.SearchURL, "--index", index,
		"--batch-entries", strconv.Itoa(b.cfg.BlockSize), "--batch-bytes", strconv.FormatInt(b.cfg.BulkBytes, 10),
		"--local-dir", tmp)
}

// sparkMaster is local mode on every core: local[2] on a 2-core machine.
func sparkMaster() string { return fmt.Sprintf("local[%d]", runtime.NumCPU()) }

// armP is the peer arm: the Spark job into a fresh index with T's mapping and
// settings. Measured as the others: the child's rusage and peak RSS, the
// servers' CPU over its whole run; docs/s from the job's own clock (from a
// ready SparkSession to the end of the write, as T's excludes connecting) and
// the documents in the index, which must be one per user.
func (b *bench) armP(ctx context.Context, n, round int, dir string) error {
	index := aliasOf(n, "peer")
	if err := b.freshIndex(ctx, index, ""); err != nil {
		return err
	}
	tmp := filepath.Join(dir, fmt.Sprintf("P%d-tmp", round))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	args := b.sparkArgs(n, index, tmp)
	logPath := filepath.Join(dir, fmt.Sprintf("P%d.log", round))
	logf("arm P (Cassandra login from INDEXSYNC_CASSANDRA_USERNAME/PASSWORD): %s", shellJoin(append([]string{b.spark.Java}, args...)))
	r := benchRun{Arm: "P", Users: n, Round: round,
		Settings: map[string]any{"master": sparkMaster(), "batchEntries": b.cfg.BlockSize, "batchBytes": b.cfg.BulkBytes,
			"shards": b.cfg.Shards, "sparkOpts": b.cfg.SparkOpts}}
	u, out, err := runProc(ctx, b.st, logPath, b.spark.Java, args...)
	r.Process = u
	var res armResult
	switch {
	case err != nil:
		r.Error = err.Error()
	case u.ExitCode != 0:
		r.Error = fmt.Sprintf("exit %d (log: %s)", u.ExitCode, logPath)
	default:
		if err := json.Unmarshal(lastLine(out), &res); err != nil || res.Seconds <= 0 {
			r.Error = fmt.Sprintf("no result line from the Spark job (log: %s)", logPath)
		}
	}
	r.IndexStats = b.indexStats(ctx, index)
	r.Indexed = b.countIndex(ctx, index)
	if r.Error == "" && r.Indexed != int64(n) {
		r.Error = fmt.Sprintf("the index holds %d documents, want %d: one per user (log: %s)", r.Indexed, n, logPath)
	}
	if r.Error == "" {
		r.Docs, r.Seconds = r.Indexed, res.Seconds
		r.DocsPerSecond = float64(r.Docs) / res.Seconds
	}
	b.deleteIndex(ctx, index)
	b.add(r)
	return nil
}

// shellJoin writes args as a command line a shell reads back the same.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
