package io.indexsync.testinfra.es;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.bytes.BytesArray;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

/**
 * Test-only plugin for the minimal Elasticsearch 8.9+ distribution
 * (integ-test-zip), where the handler of {@code GET /} lives in a module that
 * this distribution does not ship (the server answers 405). Clients, indexsync
 * among them, read the engine and its version from {@code GET /}; this plugin
 * answers it with the usual fields, taken from the server's own build
 * information and cluster state. {@code HEAD /} answers 200 with no body.
 * Compiled by testinfra/stack.sh against the distribution's lib/ jars.
 */
public final class RootInfoPlugin extends Plugin implements ActionPlugin {

    private final AtomicReference<ClusterService> clusterService = new AtomicReference<>();

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService.set(services.clusterService());
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RootHandler(clusterService::get));
    }

    static final class RootHandler extends BaseRestHandler {
        private final Supplier<ClusterService> clusterService;

        RootHandler(Supplier<ClusterService> clusterService) {
            this.clusterService = clusterService;
        }

        @Override
        public String getName() {
            return "indexsync_test_root";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            final boolean head = request.method() == RestRequest.Method.HEAD;
            return channel -> {
                if (head) {
                    channel.sendResponse(new RestResponse(RestStatus.OK, RestResponse.TEXT_CONTENT_TYPE, BytesArray.EMPTY));
                    return;
                }
                ClusterService cs = clusterService.get();
                if (cs == null) {
                    channel.sendResponse(new RestResponse(RestStatus.SERVICE_UNAVAILABLE, "node not initialised yet"));
                    return;
                }
                Build build = Build.current();
                XContentBuilder out = channel.newBuilder();
                out.startObject();
                out.field("name", cs.getNodeName());
                out.field("cluster_name", cs.getClusterName().value());
                out.field("cluster_uuid", cs.state().metadata().clusterUUID());
                out.startObject("version");
                out.field("number", build.qualifiedVersion());
                out.field("build_flavor", build.flavor());
                out.field("build_type", build.type().displayName());
                out.field("build_hash", build.hash());
                out.field("build_date", build.date());
                out.field("build_snapshot", build.isSnapshot());
                out.field("lucene_version", org.apache.lucene.util.Version.LATEST.toString());
                out.field("minimum_wire_compatibility_version", build.minWireCompatVersion());
                out.field("minimum_index_compatibility_version", build.minIndexCompatVersion());
                out.endObject();
                out.field("tagline", "You Know, for Search");
                out.endObject();
                channel.sendResponse(new RestResponse(RestStatus.OK, out));
            };
        }
    }
}
