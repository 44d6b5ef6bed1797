package io.ppsd.benchmarks.suite;

import io.ppsd.benchmarks.run.DeviceSpec;
import io.ppsd.runtime.heads.ExitHeadKind;
import java.util.Locale;

/**
 * One measured configuration: a strategy on a device over a transport, with its head, exit layer E
 * and (EESD) draft length γ. Autoregressive decoding on the same device is measured alongside every
 * configuration as its baseline.
 */
public record BenchConfig(Strategy strategy, DeviceSpec device, String transport, String head, ExitHeadKind headKind,
                          int exitLayer, int gamma, int numLayers, DeviceSpec strategyDevice) {

    public enum Strategy { AR, EESD, PPSD }

    public static BenchConfig ar(DeviceSpec device, int numLayers) {
        return new BenchConfig(Strategy.AR, device, "-", "-", null, numLayers, 0, numLayers, device);
    }

    /**
     * AR on {@code other} (e.g. one core instead of two) against AR on {@code device}: how much AR
     * itself gains from the cores a pipeline splits among its stages.
     */
    public static BenchConfig arOn(DeviceSpec device, DeviceSpec other, int numLayers) {
        return new BenchConfig(Strategy.AR, device, "-", "-", null, numLayers, 0, numLayers, other);
    }

    public static BenchConfig eesd(DeviceSpec device, HeadChoice head, int gamma, int numLayers) {
        return new BenchConfig(Strategy.EESD, device, "-", head.name(), head.kind(), head.exitLayer(), gamma, numLayers, device);
    }

    public static BenchConfig ppsd(DeviceSpec device, String transport, HeadChoice head, int numLayers) {
        return new BenchConfig(Strategy.PPSD, device, transport, head.name(), head.kind(), head.exitLayer(), 0, numLayers, device);
    }

    private String arSuffix() {
        return strategyDevice.equals(device) ? "" : switch (strategyDevice) {
            case DeviceSpec.CpuCompute cpu -> "/" + cpu.threads() + "-thread";
            case DeviceSpec.Simulated sim -> "/" + sim.name();
        };
    }

    /** Stages the strategy runs on: 1 (AR), 2 (EESD: draft stage and the rest), ⌈N/E⌉ (PPSD). */
    public int stages() {
        return switch (strategy) {
            case AR -> 1;
            case EESD -> 2;
            case PPSD -> (numLayers + exitLayer - 1) / exitLayer;
        };
    }

    public String id() {
        return switch (strategy) {
            case AR -> "ar/" + device.name() + arSuffix();
            case EESD -> String.format(Locale.ROOT, "eesd/%s/%s/E%d/g%d", device.name(), head, exitLayer, gamma);
            case PPSD -> String.format(Locale.ROOT, "ppsd/%s/%s/%s/E%d/S%d", device.name(), transport, head, exitLayer, stages());
        };
    }

    /** Configurations that can share opened stages (EESD with different γ over the same executors). */
    public String setupKey() {
        return switch (strategy) {
            case AR -> "ar/" + device.name() + arSuffix();
            case EESD -> "eesd/" + device.name() + "/" + head + "/" + exitLayer;
            case PPSD -> "ppsd/" + device.name() + "/" + transport + "/" + head + "/" + exitLayer;
        };
    }
}
