package io.ppsd.actors.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.ppsd.actors.gateway.Gateway;
import io.ppsd.actors.session.RequestSession;
import io.ppsd.actors.stage.DevicePlacement;
import io.ppsd.actors.stage.DeviceSlots;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.actors.stage.StageShards;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * A ppsd cluster node: an actor system with the stage entity type (hosted here if the node has the
 * {@code stage-host} role, proxied otherwise) and, with the {@code gateway} role, a gateway for
 * clients. The node's devices become its cluster role {@code ppsd-devices-N} so that placement
 * anywhere in the cluster knows how many stages it can take.
 */
public final class PpsdNode {
    private PpsdNode() {}

    /** The node's configuration: its own file over the defaults, roles derived from its devices. */
    public static Config configure(Config own) {
        Config c = own.withFallback(ConfigFactory.load()).resolve();
        List<String> roles = new ArrayList<>(c.getStringList("ppsd.node.roles"));
        if (roles.contains("stage-host")) {
            int devices = DeviceSlots.configured(c).size();
            if (devices == 0) throw new IllegalArgumentException("a stage-host node needs at least one device in ppsd.node.devices");
            roles.add(DevicePlacement.ROLE_PREFIX + devices);
        }
        return ConfigFactory.empty().withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(roles)).withFallback(c);
    }

    /**
     * A node's own configuration file, unresolved (includes are relative to it), with
     * {@code ppsd.tls.config-dir} = the file's folder unless the file sets it: the TLS configs find
     * their keys in the {@code keys/} folder next to them wherever the node is started from.
     */
    public static Config readFile(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        return ConfigFactory.parseFile(file.toFile())
                .withFallback(ConfigFactory.empty().withValue("ppsd.tls.config-dir", ConfigValueFactory.fromAnyRef(dir.toString())));
    }

    /**
     * Starts the node's actor system. The transport is checked first ({@link TransportSecurity}): a
     * TLS config whose key or trust store is missing or unusable fails here, with a message naming
     * the file, before anything listens.
     */
    public static ActorSystem<Void> start(Config own) {
        Config config = configure(own);
        TransportSecurity.check(config);
        return ActorSystem.create(guardian(config), config.hasPath("ppsd.node.system-name") ? config.getString("ppsd.node.system-name") : "ppsd", config);
    }

    /** A cluster of one: the node joins itself (no seed nodes needed, any port). */
    public static ActorSystem<Void> startAlone(Config own) {
        ActorSystem<Void> system = start(own);
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        return system;
    }

    private static Behavior<Void> guardian(Config config) {
        return Behaviors.setup(ctx -> {
            var pipelines = new PipelineRegistry(config);
            var sharding = ClusterSharding.get(ctx.getSystem());
            sharding.init(Entity.of(StageEntity.TYPE_KEY, entity -> StageEntity.create(entity.getEntityId(), pipelines))
                    .withMessageExtractor(new StageShards())
                    .withAllocationStrategy(new DevicePlacement())
                    .withRole("stage-host")
                    .withEntityProps(DispatcherSelector.fromConfig("ppsd.stage-dispatcher")));
            if (config.getStringList("pekko.cluster.roles").contains("gateway")) {
                ctx.spawn(Gateway.create(pipelines, RequestSession.Settings.fromConfig(config), Gateway.Limits.fromConfig(config)), "gateway");
            }
            return Behaviors.empty();
        });
    }
}
