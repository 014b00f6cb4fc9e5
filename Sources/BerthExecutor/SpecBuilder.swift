#if canImport(Glibc)
import Glibc
#endif
import BerthSystem

/// Builds the OCI runtime spec from a resolved `ContainerSpec`: Docker's default mounts and
/// masked paths, the container's own settings, and what this host allows (capabilities and
/// rlimits clamped to the daemon's; EXECUTOR-FACTS §0).
public enum SpecBuilder {
    /// Docker's default masked and read-only paths (inspect shows them in HostConfig, as dockerd).
    public static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    static func hardLimit(_ name: String) -> UInt64 {
        // Resource numbers from asm-generic/resource.h.
        let numbers: [String: UInt32] = ["RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
                                         "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
                                         "RLIMIT_MEMLOCK": 8, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
                                         "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15]
        guard let res = numbers[name] else { return UInt64.max }
        var r = rlimit()
        guard getrlimit(__rlimit_resource_t(res), &r) == 0 else { return UInt64.max }
        return UInt64(r.rlim_max)
    }

    public static func build(_ spec: ContainerSpec, paths: ContainerPaths, user: ResolvedUser) throws -> OCISpec {
        let caps = spec.process.capabilities.filter(Capabilities.bounding.contains)
        let clamped = spec.process.rlimits.sorted { $0.type < $1.type }.map { r -> OCISpec.Rlimit in
            let max = hardLimit(r.type)
            return .init(type: r.type, hard: min(r.hard, max), soft: min(r.soft, min(r.hard, max)))
        }
        let sysMode = spec.unconfined ? "rw" : "ro"
        var mounts: [OCISpec.Mount] = [
            .init("/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init("/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init("/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            .init("/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sysMode]),
            .init("/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [sysMode, "nosuid", "noexec", "nodev"]),
            .init("/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init("/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=\(spec.shmSize)"]),
            .init("/etc/resolv.conf", type: "bind", source: paths.resolvConf, options: ["rbind", "rprivate"]),
            .init("/etc/hostname", type: "bind", source: paths.hostname, options: ["rbind", "rprivate"]),
            .init("/etc/hosts", type: "bind", source: paths.hosts, options: ["rbind", "rprivate"]),
        ]
        mounts += spec.mounts

        // What dockerd adds to every process's environment: PATH when the image has none, HOSTNAME, TERM, HOME.
        var env = spec.process.env
        if !env.contains(where: { $0.hasPrefix("PATH=") }) {
            env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
        }
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) { env.insert("HOSTNAME=" + spec.hostname, at: min(1, env.count)) }
        if spec.process.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + user.home) }

        // runc 1.1 has no `domainname`: the UTS namespace's domain is set as dockerd sets it, by sysctl.
        var sysctls = spec.sysctls
        if spec.ownUTS && !spec.domainname.isEmpty && sysctls["kernel.domainname"] == nil {
            sysctls["kernel.domainname"] = spec.domainname
        }

        return OCISpec(
            process: .init(terminal: spec.process.tty, consoleSize: nil,
                           user: .init(uid: user.uid, gid: user.gid,
                                       additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids, umask: nil),
                           args: spec.process.args, env: env, cwd: spec.process.cwd.isEmpty ? "/" : spec.process.cwd,
                           capabilities: .init(bounding: caps, effective: caps, permitted: caps, inheritable: nil, ambient: nil),
                           rlimits: clamped, noNewPrivileges: spec.process.noNewPrivileges,
                           oomScoreAdj: spec.process.oomScoreAdj),
            root: .init(path: paths.rootfs, readonly: spec.readonlyRootfs),
            hostname: spec.ownUTS ? spec.hostname : nil,
            mounts: mounts,
            linux: .init(resources: spec.resources,
                         cgroupsPath: "/berth/" + spec.id, namespaces: spec.namespaces.map { .init(type: $0.type, path: $0.path) },
                         maskedPaths: spec.unconfined ? [] : spec.maskedPaths ?? maskedPaths,
                         readonlyPaths: spec.unconfined ? [] : spec.readonlyPaths ?? readonlyPaths,
                         sysctl: sysctls.isEmpty ? nil : sysctls, seccomp: spec.seccomp,
                         devices: spec.devices.isEmpty ? nil : spec.devices))
    }
}
