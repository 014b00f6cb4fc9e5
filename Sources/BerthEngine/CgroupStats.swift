#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthSystem
import Foundation

/// Reads a container's cgroup v1 counters directly (~0.5 ms, against 10-30 ms for `runc events`).
public enum CgroupStats {
    static let root = "/sys/fs/cgroup"

    static func file(_ ctrl: String, _ id: String, _ name: String) -> String? {
        try? String(contentsOfFile: "\(root)/\(ctrl)/berth/\(id)/\(name)", encoding: .utf8)
    }

    static func number(_ ctrl: String, _ id: String, _ name: String) -> UInt64? {
        file(ctrl, id, name).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func keyed(_ text: String?) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = UInt64(f[1]) { out[String(f[0])] = v }
        }
        return out
    }

    /// Host CPU time in nanoseconds, from /proc/stat (USER_HZ ticks).
    static func systemCPU() -> UInt64? {
        guard let s = FS.readText("/proc/stat"),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }.reduce(0, +)
        return ticks * (1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK))))
    }

    public static func cpu(_ id: String) -> ContainerStats.CPUStats {
        let percpu = file("cpuacct", id, "cpuacct.usage_percpu")?.split(separator: " ")
            .compactMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let acct = keyed(file("cpuacct", id, "cpuacct.stat"))
        let tick = 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let thr = keyed(file("cpu", id, "cpu.stat"))
        return .init(cpu_usage: .init(total_usage: number("cpuacct", id, "cpuacct.usage") ?? 0, percpu_usage: percpu,
                                      usage_in_kernelmode: (acct["system"] ?? 0) * tick,
                                      usage_in_usermode: (acct["user"] ?? 0) * tick),
                     system_cpu_usage: systemCPU(), online_cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                     throttling_data: .init(periods: thr["nr_periods"] ?? 0, throttled_periods: thr["nr_throttled"] ?? 0,
                                            throttled_time: thr["throttled_time"] ?? 0))
    }

    public static func sample(id: String, name: String, pid: Int32, previous: ContainerStats?) -> ContainerStats {
        let memStat = keyed(file("memory", id, "memory.stat"))
        var limit = number("memory", id, "memory.limit_in_bytes") ?? 0
        let hostMem = UInt64(ProcessInfo.processInfo.physicalMemory)
        if limit == 0 || limit > hostMem { limit = hostMem }
        let pidsMax = file("pids", id, "pids.max")?.trimmingCharacters(in: .whitespacesAndNewlines)
        var blkio: [ContainerStats.BlkioEntry] = []
        for line in (file("blkio", id, "blkio.throttle.io_service_bytes") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3, let v = UInt64(f[2]) else { continue }
            let mm = f[0].split(separator: ":")
            guard mm.count == 2, let ma = UInt64(mm[0]), let mi = UInt64(mm[1]) else { continue }
            blkio.append(.init(major: ma, minor: mi, op: String(f[1]).lowercased(), value: v))
        }
        return ContainerStats(
            name: "/" + name, id: id, read: Timestamp.rfc3339(nanos: Timestamp.nowNanos()),
            preread: previous?.read ?? Timestamp.zero,
            pids: .init(current: number("pids", id, "pids.current"), limit: pidsMax == "max" ? nil : pidsMax.flatMap { UInt64($0) }),
            blkio: .init(io_service_bytes_recursive: blkio.isEmpty ? nil : blkio, io_serviced_recursive: nil),
            cpu: cpu(id), precpu: previous?.cpu_stats ?? .empty,
            memory: .init(usage: number("memory", id, "memory.usage_in_bytes"), max_usage: number("memory", id, "memory.max_usage_in_bytes"),
                          stats: memStat, failcnt: number("memory", id, "memory.failcnt"), limit: limit),
            networks: networks(pid: pid))
    }

    /// Interface counters from the container's network namespace (/proc/PID/net/dev).
    static func networks(pid: Int32) -> [String: ContainerStats.NetworkStats]? {
        guard pid > 0, let s = FS.readText("/proc/\(pid)/net/dev") else { return nil }
        var out: [String: ContainerStats.NetworkStats] = [:]
        for line in s.split(separator: "\n").dropFirst(2) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            if name == "lo" { continue }
            let v = parts[1].split(separator: " ").compactMap { UInt64($0) }
            guard v.count >= 12 else { continue }
            out[name] = .init(rx_bytes: v[0], rx_packets: v[1], rx_errors: v[2], rx_dropped: v[3],
                              tx_bytes: v[8], tx_packets: v[9], tx_errors: v[10], tx_dropped: v[11])
        }
        return out.isEmpty ? nil : out
    }

    /// Host pids of every process in the container.
    public static func pids(_ id: String) -> [Int32] {
        (file("pids", id, "cgroup.procs") ?? file("memory", id, "cgroup.procs") ?? "")
            .split(separator: "\n").compactMap { Int32($0) }
    }
}
