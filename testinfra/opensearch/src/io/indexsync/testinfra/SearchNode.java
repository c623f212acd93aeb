package io.indexsync.testinfra;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts a single OpenSearch node in this JVM for the indexsync test stack.
 *
 * The distribution's launcher (bootstrap checks, jar hell, plugin directories,
 * security manager) is skipped: the node is built directly through Node's
 * protected constructor, with the "modules" we need passed as classpath plugins.
 *
 * Configuration comes from system properties set by testinfra/stack.sh:
 *   indexsync.search.home       work dir (path.home; data/ and logs/ below it)
 *   indexsync.search.http_port  HTTP port (default 9200)
 *   indexsync.search.transport_port  transport port (default 9300)
 */
public final class SearchNode {

    private static final List<Class<? extends Plugin>> PLUGINS = Arrays.asList(
        Netty4Plugin.class,
        CommonAnalysisPlugin.class,
        PainlessPlugin.class,
        ReindexPlugin.class,
        MapperExtrasPlugin.class);

    /** Node's public constructor takes no plugin list; the protected one does. */
    static final class PluginNode extends Node {
        PluginNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Path home = Paths.get(required("indexsync.search.home")).toAbsolutePath();
        Path data = home.resolve("data");
        Path logs = home.resolve("logs");
        for (Path p : new Path[] {data, logs, home.resolve("modules"), home.resolve("plugins"), home.resolve("config")}) {
            Files.createDirectories(p);
        }

        Settings settings = Settings.builder()
            .put("cluster.name", "indexsync-test")
            .put("node.name", "indexsync-test-node")
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", System.getProperty("indexsync.search.http_port", "9200"))
            .put("transport.port", System.getProperty("indexsync.search.transport_port", "9300"))
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true)
            .build();

        Environment env = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), home.resolve("config"), () -> "indexsync-test-node");

        final Node node = new PluginNode(env, PLUGINS);
        final CountDownLatch stopped = new CountDownLatch(1);

        // Keeps the JVM alive: the node's own threads are daemons.
        Thread keepAlive = new Thread(() -> {
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "indexsync-keepalive");
        keepAlive.setDaemon(false);
        keepAlive.start();

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(20, TimeUnit.SECONDS)) {
                    System.err.println("indexsync: node did not close within 20s");
                }
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                // log4j's own shutdown hook is disabled (-Dlog4j.shutdownHookEnabled=false)
                // so the node can log its shutdown; flush and stop logging last.
                org.apache.logging.log4j.LogManager.shutdown();
                stopped.countDown();
            }
        }, "indexsync-shutdown"));

        try {
            node.start();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("indexsync: OpenSearch node started, http port "
            + settings.get("http.port"));
    }

    private static String required(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isEmpty()) {
            System.err.println("missing system property -D" + name);
            System.exit(2);
        }
        return v;
    }
}
