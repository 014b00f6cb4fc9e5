#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthSystem

/// What the executor needs to run a container; the engine derives it from the stored config.
public struct RunRequest: Sendable {
    public var id: String
    public var args: [String]
    public var env: [String]
    public var workingDir: String
    public var user: String
    public var tty: Bool
    public var openStdin: Bool
    public var stdinOnce: Bool
    public var hostname: String
    public var domainname: String
    public var hostConfig: HostConfig
    /// Image layer directories, bottom first.
    public var layers: [String]

    public init(id: String, args: [String], env: [String], workingDir: String, user: String, tty: Bool,
                openStdin: Bool, stdinOnce: Bool, hostname: String, domainname: String, hostConfig: HostConfig,
                layers: [String]) {
        self.id = id; self.args = args; self.env = env; self.workingDir = workingDir; self.user = user
        self.tty = tty; self.openStdin = openStdin; self.stdinOnce = stdinOnce; self.hostname = hostname
        self.domainname = domainname; self.hostConfig = hostConfig; self.layers = layers
    }
}

/// Builds the OCI runtime spec the way dockerd's defaults look (mounts, capabilities, masked
/// paths), clamped to what this host allows (capabilities and rlimits; EXECUTOR-FACTS §0).
public enum SpecBuilder {
    static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    static let rlimitNames: [String: String] = [
        "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
        "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
        "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
        "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
    ]

    /// `nofile` → `RLIMIT_NOFILE`, nil for a name Docker does not know.
    public static func rlimitName(_ docker: String) -> String? { rlimitNames[docker] }

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

    /// Memory, CPU and pids limits from a HostConfig, for `runc create` and `runc update` alike.
    /// The values were checked when they were accepted (`ResourceRules`); what is left to do here
    /// cannot overflow: the default swap is twice the memory, or unlimited where that passes Int64.
    public static func resources(_ hc: HostConfig) -> OCISpec.Resources {
        var memory: OCISpec.Memory? = nil
        let reservation = (hc.MemoryReservation ?? 0) > 0 ? hc.MemoryReservation : nil
        if let m = hc.Memory, m > 0 {
            var swap = hc.MemorySwap ?? 0
            if swap == 0 {
                let (doubled, overflow) = m.multipliedReportingOverflow(by: 2)
                swap = overflow ? -1 : doubled
            }
            memory = .init(limit: m, reservation: reservation, swap: swap, swappiness: nil,
                           disableOOMKiller: hc.OomKillDisable == true ? true : nil)
        } else if reservation != nil {
            memory = .init(limit: nil, reservation: reservation, swap: nil, swappiness: nil, disableOOMKiller: nil)
        }
        var cpu = OCISpec.CPU()
        var anyCPU = false
        if let s = hc.CpuShares, s > 0 { cpu.shares = UInt64(s); anyCPU = true }
        // quota/period = NanoCpus/10⁹ with a 100 ms period.
        if let n = hc.NanoCpus, n > 0 { cpu.period = 100_000; cpu.quota = max(1000, n / 10_000); anyCPU = true }
        if let q = hc.CpuQuota, q > 0 { cpu.quota = q; anyCPU = true }
        if let p = hc.CpuPeriod, p > 0 { cpu.period = UInt64(p); anyCPU = true }
        if let c = hc.CpusetCpus, !c.isEmpty { cpu.cpus = c; anyCPU = true }
        if let c = hc.CpusetMems, !c.isEmpty { cpu.mems = c; anyCPU = true }
        let pids: OCISpec.Pids? = (hc.PidsLimit ?? 0) > 0 ? .init(limit: hc.PidsLimit!) : nil
        return OCISpec.Resources(devices: [], memory: memory, cpu: anyCPU ? cpu : nil, pids: pids)
    }

    public static func build(_ req: RunRequest, paths: ContainerPaths, user: ResolvedUser) throws -> OCISpec {
        let hc = req.hostConfig
        let privileged = hc.Privileged ?? false
        let caps: [String]
        do { caps = try Capabilities.compute(privileged: privileged, add: hc.CapAdd ?? [], drop: hc.CapDrop ?? []) }
        catch Capabilities.CapabilityError.unknown(let c) { throw BerthError.invalid("invalid capability: \(c)") }

        var rlimits: [String: OCISpec.Rlimit] = ["RLIMIT_NOFILE": .init(type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576)]
        for u in hc.Ulimits ?? [] {
            guard let n = rlimitNames[u.Name] else { throw BerthError.invalid("invalid ulimit type: \(u.Name)") }
            rlimits[n] = .init(type: n, hard: UInt64(max(0, u.Hard)), soft: UInt64(max(0, u.Soft)))
        }
        let clamped = rlimits.values.sorted { $0.type < $1.type }.map { r -> OCISpec.Rlimit in
            let max = hardLimit(r.type)
            return .init(type: r.type, hard: min(r.hard, max), soft: min(r.soft, min(r.hard, max)))
        }

        let shmSize = (hc.ShmSize ?? 0) > 0 ? hc.ShmSize! : 64 * 1024 * 1024
        var mounts: [OCISpec.Mount] = [
            .init("/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init("/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init("/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            .init("/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"]),
            .init("/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [privileged ? "rw" : "ro", "nosuid", "noexec", "nodev"]),
            .init("/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init("/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=\(shmSize)"]),
            .init("/etc/resolv.conf", type: "bind", source: paths.resolvConf, options: ["rbind", "rprivate"]),
            .init("/etc/hostname", type: "bind", source: paths.hostname, options: ["rbind", "rprivate"]),
            .init("/etc/hosts", type: "bind", source: paths.hosts, options: ["rbind", "rprivate"]),
        ]
        for (dst, opts) in (hc.Tmpfs ?? [:]).sorted(by: { $0.key < $1.key }) {
            var o = ["nosuid", "nodev", "noexec"]
            o += opts.split(separator: ",").map(String.init)
            mounts.append(.init(dst, type: "tmpfs", source: "tmpfs", options: o))
        }

        var namespaces: [OCISpec.Namespace] = [.init(type: "pid", path: nil), .init(type: "ipc", path: nil),
                                               .init(type: "uts", path: nil), .init(type: "mount", path: nil)]
        let netMode = hc.NetworkMode ?? "bridge"
        if netMode != "host" { namespaces.append(.init(type: "network", path: nil)) }

        var resources = resources(hc)
        resources.devices = [.init(allow: false, access: "rwm")]
        var devices: [OCISpec.Device] = []
        if privileged {
            devices = ContainerDevices.allHostDevices()
            resources.devices.append(.init(allow: true, access: "rwm"))
        } else {
            let given = try ContainerDevices.resolve(hc.Devices ?? [])
            devices = given.devices
            resources.devices += given.rules
            resources.devices += try (hc.DeviceCgroupRules ?? []).map(ContainerDevices.parseRule)
        }

        let security = try SecurityOptions.parse(hc.SecurityOpt ?? [])
        var seccomp: OCISpec.Seccomp? = nil
        if !privileged {
            switch security.seccomp {
            case .dockerDefault: seccomp = SeccompProfile.dockerDefault.oci(capabilities: caps)
            case .custom(let p): seccomp = p.oci(capabilities: caps)
            case .unconfined: seccomp = nil
            }
        }

        // --init: docker-init (tini) as PID 1, reaping and passing signals on to the command.
        var args = req.args
        if hc.Init == true {
            mounts.append(.init(InitBinary.mountPoint, type: "bind", source: try InitBinary.find(), options: ["bind", "ro"]))
            args = [InitBinary.mountPoint, "--"] + args
        }

        // What dockerd adds to every process's environment: PATH when the image has none, HOSTNAME, TERM.
        var env = req.env
        if !env.contains(where: { $0.hasPrefix("PATH=") }) {
            env.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
        }
        if !env.contains(where: { $0.hasPrefix("HOSTNAME=") }) { env.insert("HOSTNAME=" + req.hostname, at: 1) }
        if req.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + user.home) }

        return OCISpec(
            process: .init(terminal: req.tty, consoleSize: nil,
                           user: .init(uid: user.uid, gid: user.gid,
                                       additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids, umask: nil),
                           args: args, env: env, cwd: req.workingDir.isEmpty ? "/" : req.workingDir,
                           capabilities: .init(bounding: caps, effective: caps, permitted: caps, inheritable: nil, ambient: nil),
                           rlimits: clamped, noNewPrivileges: security.noNewPrivileges,
                           oomScoreAdj: (hc.OomScoreAdj ?? 0) != 0 ? hc.OomScoreAdj : nil),
            root: .init(path: paths.rootfs, readonly: hc.ReadonlyRootfs ?? false),
            hostname: netMode == "host" ? nil : req.hostname,
            mounts: mounts,
            linux: .init(resources: resources,
                         cgroupsPath: "/berth/" + req.id, namespaces: namespaces,
                         maskedPaths: privileged ? [] : maskedPaths, readonlyPaths: privileged ? [] : readonlyPaths,
                         sysctl: hc.Sysctls, seccomp: seccomp, devices: devices.isEmpty ? nil : devices))
    }
}
