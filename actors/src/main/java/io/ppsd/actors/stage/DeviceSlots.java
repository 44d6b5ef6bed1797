package io.ppsd.actors.stage;

import io.ppsd.runtime.stage.Device;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;

/**
 * The devices of this node ({@code ppsd.node.devices}) and which stage holds each: a stage owns
 * exactly one device and a device serves at most one stage. Shared by the stage entities of one
 * actor system.
 */
public final class DeviceSlots implements Extension {
    private final List<Device> devices;
    private final Map<Device, String> owners = new HashMap<>();
    private final java.util.Set<String> loaded = new java.util.HashSet<>();

    private DeviceSlots(List<Device> devices) {
        this.devices = List.copyOf(devices);
    }

    public static DeviceSlots get(ActorSystem<?> system) {
        return Id.INSTANCE.apply(system);
    }

    public static List<Device> configured(com.typesafe.config.Config config) {
        List<Device> list = new ArrayList<>();
        for (String s : config.getStringList("ppsd.node.devices")) list.add(Device.parse(s));
        return list;
    }

    public synchronized Optional<Device> acquire(String stage) {
        for (Device d : devices) {
            if (!owners.containsKey(d)) {
                owners.put(d, stage);
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    public synchronized void release(Device device, String stage) {
        if (owners.remove(device, stage)) loaded.remove(stage);
    }

    /** The stage holding a device has loaded its weights and serves. */
    public synchronized void markLoaded(String stage) {
        if (owners.containsValue(stage)) loaded.add(stage);
    }

    /** Per stage holding a device of this node: whether it has loaded ({@code true}) or is still loading. */
    public synchronized Map<String, Boolean> stages() {
        Map<String, Boolean> m = new java.util.TreeMap<>();
        for (String stage : owners.values()) m.put(stage, loaded.contains(stage));
        return m;
    }

    public synchronized String describe() {
        return devices.size() + " device(s) " + devices + ", held: " + owners;
    }

    /** The entity ids ({@code pipeline/stage}) of the stages holding a device of this node now. */
    public synchronized List<String> holders() {
        return List.copyOf(owners.values());
    }

    public int size() {
        return devices.size();
    }

    static final class Id extends ExtensionId<DeviceSlots> {
        static final Id INSTANCE = new Id();

        @Override
        public DeviceSlots createExtension(ActorSystem<?> system) {
            return new DeviceSlots(configured(system.settings().config()));
        }
    }
}
