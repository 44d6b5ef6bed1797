package io.ppsd.actors.node;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ppsd.actors.stage.DeviceSlots;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * A node's own health for an orchestrator ({@code ppsd node --probe-port N}, {@code ppsd.node.probe}):
 * {@code GET /live} answers 200 while the node runs; {@code GET /ready} answers 200 once the node is
 * an Up member of the cluster and every stage placed on its devices has loaded its weights (503
 * before, and once it is leaving or downed), with what it knows as JSON. Local on purpose: whether
 * whole pipelines are served is the gateway's {@code /health}; a stage host that waited for the
 * pipelines would never turn ready while its peers wait for it (a StatefulSet starting pods in
 * order, for one).
 */
public final class NodeProbe extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ActorSystem<?> system;

    private NodeProbe(ActorSystem<?> system) {
        this.system = system;
    }

    /** Binds the probe on {@code host:port} (port 0: any free port). */
    public static CompletionStage<ServerBinding> start(ActorSystem<?> system, String host, int port) {
        return Http.get(system).newServerAt(host, port).bind(new NodeProbe(system).routes());
    }

    private Route routes() {
        return get(() -> concat(
                path("live", () -> complete(HttpResponse.create().withStatus(StatusCodes.OK).withEntity(ContentTypes.APPLICATION_JSON, "{\"status\":\"live\"}"))),
                path("ready", () -> {
                    ObjectNode body = JSON.createObjectNode();
                    MemberStatus status = Cluster.get(system).selfMember().status();
                    var stages = DeviceSlots.get(system).stages();
                    boolean ready = status.equals(MemberStatus.up()) && stages.values().stream().allMatch(Boolean::booleanValue);
                    body.put("status", ready ? "ready" : "not ready");
                    body.put("member", status.toString());
                    var s = body.putObject("stages");
                    stages.forEach((id, loaded) -> s.put(id, loaded ? "loaded" : "loading"));
                    return complete(HttpResponse.create().withStatus(ready ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE)
                            .withEntity(ContentTypes.APPLICATION_JSON, body.toString()));
                })));
    }
}
