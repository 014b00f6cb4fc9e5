@testable import BerthExecutor
import Foundation
import Testing

/// The OCI runtime spec built from representative `ContainerSpec`s, compared with the files in
/// Tests/Golden (pretty-printed, keys sorted). A change to what runc is given shows as a diff of
/// those files; `BERTH_UPDATE_GOLDEN=1 swift test --filter GoldenSpecTests` rewrites them.
@Suite struct GoldenSpecTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden").path
    static let id = String(repeating: "ab", count: 32)
    static let paths = ContainerPaths(id: id, dataRoot: "/var/lib/berth", execRoot: "/run/berth")
    static let root = ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/root")

    static func process(_ args: [String], tty: Bool = false, caps: [String] = Capabilities.dockerDefault) -> ProcessSpec {
        ProcessSpec(args: args, env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], cwd: "", user: "", additionalGroups: [],
                    tty: tty, openStdin: false, stdinOnce: false, capabilities: caps, noNewPrivileges: false,
                    rlimits: [.init(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)], oomScoreAdj: nil)
    }

    static let etc = EtcFiles(hostname: "abababababab\n", hosts: "127.0.0.1\tlocalhost\n", resolvConf: "nameserver 192.0.2.1\n")
    static let log = LogSpec(keep: true, limits: .defaults)
    static let ownNamespaces: [ContainerSpec.Namespace] = [.init("pid"), .init("ipc"), .init("uts"), .init("mount"), .init("network")]

    /// `docker run busybox sh`: Docker's default capabilities and seccomp profile, a network namespace of its own.
    static let plain = ContainerSpec(
        id: id, name: "/plain", layers: ["/var/lib/berth/layers/1/diff"], process: process(["sh"]), hostname: "abababababab",
        domainname: "", ownUTS: true, namespaces: ownNamespaces, mounts: [], readonlyRootfs: false, shmSize: 64 << 20,
        resources: .init(devices: [.init(allow: false, access: "rwm")], memory: nil, cpu: nil, pids: nil), devices: [],
        seccomp: SeccompProfile.dockerDefault.oci(capabilities: Capabilities.dockerDefault), unconfined: false, sysctls: [:],
        etc: etc, log: log)

    /// `--privileged --network host`: no masks, writable sysfs, the host's network and UTS namespaces.
    static let privilegedHost = ContainerSpec(
        id: id, name: "/priv", layers: ["/l/1", "/l/2"], process: process(["top", "-b"], tty: true, caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]),
        hostname: "buildhost", domainname: "", ownUTS: false, namespaces: [.init("pid"), .init("ipc"), .init("uts"), .init("mount")],
        mounts: [], readonlyRootfs: false, shmSize: 64 << 20,
        resources: .init(devices: [.init(allow: false, access: "rwm"), .init(allow: true, access: "rwm")], memory: nil, cpu: nil, pids: nil),
        devices: [.init(path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0)],
        seccomp: nil, unconfined: true, sysctls: [:], etc: etc, log: log)

    /// Limits, a read-only root with a tmpfs, a joined network namespace (how a network attaches),
    /// sysctls, a user with groups, no new privileges.
    static let confined: ContainerSpec = {
        var p = process(["/srv/app", "--port", "80"], caps: ["CAP_NET_BIND_SERVICE"])
        p.noNewPrivileges = true
        p.cwd = "/srv"
        p.oomScoreAdj = 500
        p.rlimits = [.init(type: "RLIMIT_NOFILE", hard: 512, soft: 256), .init(type: "RLIMIT_NPROC", hard: 64, soft: 64)]
        var cpu = OCISpec.CPU()
        cpu.quota = 50_000
        cpu.period = 100_000
        cpu.cpus = "0"
        return ContainerSpec(
            id: id, name: "/confined", layers: ["/l/1"], process: p, hostname: "app", domainname: "example.org", ownUTS: true,
            namespaces: [.init("pid"), .init("ipc"), .init("uts"), .init("mount"), .init("network", path: "/run/netns/berth-app")],
            mounts: [.init("/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "size=16m"])],
            readonlyRootfs: true, shmSize: 8 << 20,
            resources: .init(devices: [.init(allow: false, access: "rwm")],
                             memory: .init(limit: 128 << 20, reservation: nil, swap: 256 << 20, swappiness: nil, disableOOMKiller: nil),
                             cpu: cpu, pids: .init(limit: 100)),
            devices: [], seccomp: nil, unconfined: false, sysctls: ["net.ipv4.ip_unprivileged_port_start": "0"], etc: etc, log: log)
    }()

    @Test(arguments: [("oci-plain", plain), ("oci-privileged-host", privilegedHost), ("oci-confined", confined)])
    func specMatchesGolden(_ name: String, _ spec: ContainerSpec) throws {
        let user = name == "oci-confined" ? ResolvedUser(uid: 1000, gid: 1000, additionalGids: [27, 100], home: "/home/app") : Self.root
        let oci = try SpecBuilder.build(spec, paths: Self.paths, user: user)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try enc.encode(oci), as: UTF8.self) + "\n"
        let file = Self.dir + "/" + name + ".json"
        if ProcessInfo.processInfo.environment["BERTH_UPDATE_GOLDEN"] != nil {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text == golden, "the OCI spec for \(name) differs from Tests/Golden/\(name).json")
    }
}
