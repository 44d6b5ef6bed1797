package io.ppsd.benchmarks.run;

import io.ppsd.runtime.simulated.DeviceProfile;
import io.ppsd.runtime.simulated.PrecisePause;

/** Where the stages of a configuration compute: this machine's cores, or simulated accelerators. */
public sealed interface DeviceSpec {
    /** A short name for tables: {@code cpu} or {@code sim:A100-13B}. */
    String name();

    /** Real computation on {@code threads} cores, split evenly among the pipeline's stages. */
    record CpuCompute(int threads) implements DeviceSpec {
        @Override
        public String name() {
            return "cpu";
        }
    }

    /** One simulated device per stage, each computing on {@code threadsPerStage} cores and padded to {@code profile}. */
    record Simulated(DeviceProfile profile, int threadsPerStage, PrecisePause pause) implements DeviceSpec {
        @Override
        public String name() {
            return "sim:" + profile.name();
        }
    }
}
