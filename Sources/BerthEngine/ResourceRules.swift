#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthModels
import BerthSystem

/// What dockerd refuses in a container's resources, with its words: checked at create and at
/// update, so every number that reaches the runtime is in range and no arithmetic on it can
/// overflow.
public enum ResourceRules {
    static let minimumMemory: Int64 = 6 * 1024 * 1024

    /// Swap when none is given: twice the memory, or unlimited (-1) where that passes Int64.
    public static func defaultSwap(_ memory: Int64) -> Int64 {
        let (doubled, overflow) = memory.multipliedReportingOverflow(by: 2)
        return overflow ? -1 : doubled
    }

    public static func check(_ hc: HostConfig, cpus: Int = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) throws {
        let memory = hc.Memory ?? 0
        if memory < 0 { throw BerthError.invalid("Invalid memory limit \(memory): must be positive") }
        if memory > 0 && memory < minimumMemory { throw BerthError.invalid("Minimum memory limit allowed is 6MB") }
        let swap = hc.MemorySwap ?? 0
        if swap < -1 { throw BerthError.invalid("Invalid memory swap limit \(swap): must be -1 (unlimited) or positive") }
        if memory > 0 && swap > 0 && swap < memory {
            throw BerthError.invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        let reservation = hc.MemoryReservation ?? 0
        if reservation < 0 { throw BerthError.invalid("Invalid memory reservation \(reservation): must be positive") }
        if reservation > 0 && reservation < minimumMemory { throw BerthError.invalid("Minimum memory reservation allowed is 6MB") }
        if memory > 0 && reservation > 0 && memory < reservation {
            throw BerthError.invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        if let s = hc.MemorySwappiness, s != -1, !(0...100).contains(s) {
            throw BerthError.invalid("Invalid value: \(s), valid memory swappiness range is 0-100")
        }
        let nano = hc.NanoCpus ?? 0
        if nano != 0 {
            if (hc.CpuPeriod ?? 0) != 0 { throw BerthError.invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set") }
            if (hc.CpuQuota ?? 0) != 0 { throw BerthError.invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set") }
            if nano < 0 || nano > Int64(cpus) * 1_000_000_000 {
                throw BerthError.invalid("Range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
            }
        }
        if let p = hc.CpuPeriod, p != 0, !(1000...1_000_000).contains(p) {
            throw BerthError.invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
        }
        if let q = hc.CpuQuota, q != 0, q != -1, q < 1000 {
            throw BerthError.invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        }
        if let s = hc.CpuShares, s < 0 { throw BerthError.invalid("Invalid CPU shares \(s): must be positive") }
        if let s = hc.ShmSize, s < 0 { throw BerthError.invalid("SHM size can not be less than 0") }
        if let o = hc.OomScoreAdj, !(-1000...1000).contains(o) {
            throw BerthError.invalid("Invalid value \(o), range for oom score adj is [-1000, 1000]")
        }
        for u in hc.Ulimits ?? [] where u.Soft > u.Hard && u.Hard >= 0 {
            throw BerthError.invalid("ulimit soft limit must be less than or equal to hard limit: \(u.Soft) > \(u.Hard)")
        }
    }
}

/// What dockerd refuses in a container's confinement options, checked at create so a bad value
/// is a 400 then rather than a failed start later.
public enum ConfinementRules {
    public static func check(_ hc: HostConfig) throws {
        _ = try SecurityOptions.parse(hc.SecurityOpt ?? [])
        for c in (hc.CapAdd ?? []) + (hc.CapDrop ?? []) {
            let n = Capabilities.normalise(c)
            guard n == "ALL" || Capabilities.all.contains(n) else {
                throw BerthError.invalid("invalid \((hc.CapAdd ?? []).contains(c) ? "CapAdd" : "CapDrop"): unknown capability: \"\(n)\"")
            }
        }
        if hc.Privileged != true {
            _ = try ContainerDevices.resolve(ContainerSpecs.deviceRequests(hc))
            for r in hc.DeviceCgroupRules ?? [] { _ = try ContainerDevices.parseRule(r) }
        }
        let network = hc.NetworkMode ?? ""
        try Sysctls.check(hc.Sysctls ?? [:], hostNetwork: network == "host", hostIPC: (hc.IpcMode ?? "") == "host")
        if hc.Init == true { _ = try InitBinary.find() }
        for u in hc.Ulimits ?? [] where ContainerSpecs.rlimitNames[u.Name] == nil {
            throw BerthError.invalid("invalid ulimit type: \(u.Name)")
        }
    }
}
