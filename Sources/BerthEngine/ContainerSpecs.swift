#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthModels
import BerthSystem
import Foundation

/// Docker's configuration of a container, resolved into what the runtime runs (`ContainerSpec`):
/// capabilities, seccomp, devices, init, resources, rlimits, namespaces by network mode, the
/// contents of its /etc files, its log. The runtime sees no Docker types.
public enum ContainerSpecs {
    public static func make(id: String, name: String, config: ContainerConfig, hostConfig hc: HostConfig, layers: [String],
                            logDefaults: LogLimits) throws -> ContainerSpec {
        let privileged = hc.Privileged ?? false
        let caps: [String]
        do { caps = try Capabilities.compute(privileged: privileged, add: hc.CapAdd ?? [], drop: hc.CapDrop ?? []) }
        catch Capabilities.CapabilityError.unknown(let c) { throw BerthError.invalid("invalid capability: \(c)") }

        var rlimits: [String: OCISpec.Rlimit] = ["RLIMIT_NOFILE": .init(type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576)]
        for u in hc.Ulimits ?? [] {
            guard let n = rlimitNames[u.Name] else { throw BerthError.invalid("invalid ulimit type: \(u.Name)") }
            rlimits[n] = .init(type: n, hard: UInt64(max(0, u.Hard)), soft: UInt64(max(0, u.Soft)))
        }

        var mounts: [OCISpec.Mount] = []
        for (dst, opts) in (hc.Tmpfs ?? [:]).sorted(by: { $0.key < $1.key }) {
            mounts.append(.init(dst, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec"] + opts.split(separator: ",").map(String.init)))
        }
        // --init: docker-init (tini) as PID 1, reaping and passing signals on to the command.
        var args = ContainerService.argv(config)
        if hc.Init == true {
            mounts.append(.init(InitBinary.mountPoint, type: "bind", source: try InitBinary.find(), options: ["bind", "ro"]))
            args = [InitBinary.mountPoint, "--"] + args
        }

        let netMode = hc.NetworkMode ?? "bridge"
        var namespaces: [ContainerSpec.Namespace] = [.init("pid"), .init("ipc"), .init("uts"), .init("mount")]
        if netMode != "host" { namespaces.append(.init("network")) }

        var resources = ResourceMapping.resources(hc)
        resources.devices = [.init(allow: false, access: "rwm")]
        var devices: [OCISpec.Device] = []
        if privileged {
            devices = ContainerDevices.allHostDevices()
            resources.devices.append(.init(allow: true, access: "rwm"))
        } else {
            let given = try ContainerDevices.resolve(deviceRequests(hc))
            devices = given.devices
            resources.devices += given.rules
            resources.devices += try (hc.DeviceCgroupRules ?? []).map(ContainerDevices.parseRule)
        }

        let security = try SecurityOptions.parse(hc.SecurityOpt ?? [])
        var seccomp: OCISpec.Seccomp? = nil
        if !privileged {
            switch security.seccomp {
            case .dockerDefault: seccomp = SeccompProfile.dockerDefault.oci(capabilities: caps.filter(Capabilities.bounding.contains))
            case .custom(let p): seccomp = p.oci(capabilities: caps.filter(Capabilities.bounding.contains))
            case .unconfined: seccomp = nil
            }
        }

        let hostname = netMode == "host" ? ProcessInfo.processInfo.hostName : (config.Hostname ?? String(id.prefix(12)))
        let process = ProcessSpec(args: args, env: config.Env ?? [], cwd: config.WorkingDir ?? "", user: config.User ?? "",
                                  additionalGroups: hc.GroupAdd ?? [], tty: config.Tty ?? false, openStdin: config.OpenStdin ?? false,
                                  stdinOnce: config.StdinOnce ?? false, capabilities: caps,
                                  noNewPrivileges: security.noNewPrivileges,
                                  rlimits: rlimits.values.sorted { $0.type < $1.type },
                                  oomScoreAdj: (hc.OomScoreAdj ?? 0) != 0 ? hc.OomScoreAdj : nil)
        var spec = ContainerSpec(
            id: id, name: name, layers: layers, process: process, hostname: hostname.isEmpty ? String(id.prefix(12)) : hostname,
            domainname: config.Domainname ?? "", ownUTS: netMode != "host", namespaces: namespaces, mounts: mounts,
            readonlyRootfs: hc.ReadonlyRootfs ?? false, shmSize: (hc.ShmSize ?? 0) > 0 ? hc.ShmSize! : 64 * 1024 * 1024,
            resources: resources, devices: devices, seccomp: seccomp, unconfined: privileged, sysctls: hc.Sysctls ?? [:],
            etc: etcFiles(id: id, config: config, hostConfig: hc), log: try LogOptions.spec(hc.LogConfig, defaults: logDefaults))
        spec.maskedPaths = hc.MaskedPaths
        spec.readonlyPaths = hc.ReadonlyPaths
        return spec
    }

    /// The network namespace and /etc lines the container's networks call for.
    static func apply(_ plan: NetworkPlan, to spec: inout ContainerSpec) {
        switch plan.namespace {
        case .host: spec.namespaces.removeAll { $0.type == "network" }
        case .fresh: break
        case .path(let p):
            spec.namespaces.removeAll { $0.type == "network" }
            spec.namespaces.append(.init("network", path: p))
        }
        if let r = plan.resolvConf { spec.etc.resolvConf = r }
        if let gw = plan.hostGateway { spec.etc.hosts = spec.etc.hosts.replacingOccurrences(of: "host-gateway\t", with: gw + "\t") }
        for line in plan.hosts { spec.etc.hosts += line + "\n" }
        // The container's own variables win over the links' (as dockerd).
        let own = Set(spec.process.env.map { String($0.split(separator: "=", maxSplits: 1).first ?? "") })
        spec.process.env = plan.env.filter { !own.contains(String($0.split(separator: "=", maxSplits: 1).first ?? "")) } + spec.process.env
    }

    static func deviceRequests(_ hc: HostConfig) -> [ContainerDevices.Request] {
        (hc.Devices ?? []).map { .init(host: $0.PathOnHost, container: $0.PathInContainer, permissions: $0.CgroupPermissions) }
    }

    /// Docker's `--ulimit` names.
    static let rlimitNames: [String: String] = [
        "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
        "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
        "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
        "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
    ]

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf as the container sees them.
    static func etcFiles(id: String, config: ContainerConfig, hostConfig hc: HostConfig) -> EtcFiles {
        let host = hc.NetworkMode == "host"
        var hostname = host ? ProcessInfo.processInfo.hostName : (config.Hostname ?? "")
        if hostname.isEmpty { hostname = String(id.prefix(12)) }
        var hosts: String
        if host, let h = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) { hosts = h } else {
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                + "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        }
        for e in hc.ExtraHosts ?? [] {
            let parts = e.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { hosts += "\(parts[1])\t\(parts[0])\n" }
        }
        var resolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        if !host {
            // Loopback resolvers of the host are unreachable from the container's namespace.
            let kept = resolv.split(separator: "\n").filter { l in
                let f = l.split(separator: " ", omittingEmptySubsequences: true)
                return !(f.first == "nameserver" && f.count > 1 && (f[1].hasPrefix("127.") || f[1] == "::1"))
            }
            resolv = kept.joined(separator: "\n") + "\n"
        }
        if let dns = hc.Dns, !dns.isEmpty || !(hc.DnsSearch ?? []).isEmpty || !(hc.DnsOptions ?? []).isEmpty {
            var lines = resolv.split(separator: "\n").map(String.init)
            if !dns.isEmpty { lines.removeAll { $0.hasPrefix("nameserver") }; lines += dns.map { "nameserver " + $0 } }
            if let s = hc.DnsSearch, !s.isEmpty { lines.removeAll { $0.hasPrefix("search") }; lines.append("search " + s.joined(separator: " ")) }
            if let o = hc.DnsOptions, !o.isEmpty { lines.removeAll { $0.hasPrefix("options") }; lines.append("options " + o.joined(separator: " ")) }
            resolv = lines.joined(separator: "\n") + "\n"
        }
        return EtcFiles(hostname: hostname + "\n", hosts: hosts, resolvConf: resolv)
    }
}

/// Memory, CPU and pids limits from a HostConfig, for `runc create` and `runc update` alike.
/// The values were checked when they were accepted (`ResourceRules`); what is left to do here
/// cannot overflow: the default swap is twice the memory, or unlimited where that passes Int64.
public enum ResourceMapping {
    public static func resources(_ hc: HostConfig) -> OCISpec.Resources {
        var memory: OCISpec.Memory? = nil
        let reservation = (hc.MemoryReservation ?? 0) > 0 ? hc.MemoryReservation : nil
        if let m = hc.Memory, m > 0 {
            var swap = hc.MemorySwap ?? 0
            if swap == 0 { swap = ResourceRules.defaultSwap(m) }
            memory = .init(limit: m, reservation: reservation, swap: swap, swappiness: nil,
                           disableOOMKiller: hc.OomKillDisable == true ? true : nil)
        } else if reservation != nil || hc.OomKillDisable == true {
            memory = .init(limit: nil, reservation: reservation, swap: nil, swappiness: nil,
                           disableOOMKiller: hc.OomKillDisable == true ? true : nil)
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
}
