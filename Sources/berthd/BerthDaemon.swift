#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BerthAPI
import BerthEngine
import BerthNetwork
import BerthExecutor
import BerthRegistry
import BerthSystem
import Dispatch
import Foundation
import Logging

@main
struct Berthd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berthd",
        abstract: "Berth: a container engine that serves the Docker Engine API.",
        subcommands: [BerthDaemon.self, TLSCommand.self, ResolverCommand.self],
        defaultSubcommand: BerthDaemon.self)
}

struct BerthDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon (what `berthd` does without a subcommand).")

    @Option(name: [.customShort("H"), .customLong("host")], help: "Listen address (repeatable): unix:///PATH or tcp://HOST:PORT (default unix:///run/berth/berth.sock)")
    var hosts: [String] = []

    @Option(name: [.customShort("G"), .customLong("group")], help: "Group of the unix socket (mode 0660); root's when the group does not exist")
    var group = "docker"

    @Flag(name: .customLong("tls"), help: "Serve TCP listeners over TLS (implied by --tlsverify)")
    var tls = false

    @Flag(name: .customLong("tlsverify"), help: "Serve TCP listeners over TLS and require client certificates signed by --tlscacert")
    var tlsVerify = false

    @Option(name: .customLong("tlscacert"), help: "CA that client certificates must chain to")
    var tlsCACert = "/etc/berth/tls/ca.pem"

    @Option(name: .customLong("tlscert"), help: "The server's TLS certificate")
    var tlsCert = "/etc/berth/tls/server-cert.pem"

    @Option(name: .customLong("tlskey"), help: "The server's TLS key")
    var tlsKey = "/etc/berth/tls/server-key.pem"

    @Option(name: .long, help: "Root of persistent state (images, containers, database)")
    var dataRoot = "/var/lib/berth"

    @Option(name: .long, help: "Root of runtime state (runc state, monitor sockets, exit files)")
    var execRoot = "/run/berth"

    @Option(name: .long, help: "Where to write the daemon's pid")
    var pidfile = "/run/berth/berthd.pid"

    @Flag(name: .long, help: "Allow a plain-TCP listener on a non-loopback address (anyone who can reach it is root here)")
    var insecureTcp = false

    @Option(name: .customLong("registry-mirror"), help: "Docker Hub mirror URL tried before Docker Hub for pulls (repeatable)")
    var registryMirror: [String] = []

    @Option(name: .customLong("insecure-registry"), help: "Registry host[:port] or CIDR allowed over plain HTTP or unverified TLS (repeatable; 127.0.0.0/8 always is)")
    var insecureRegistry: [String] = []

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel = "info"

    @Option(name: .customLong("log-opt"), help: "Default container log limits as dockerd takes them: max-size=SIZE (64m), max-file=N (5) (repeatable)")
    var logOpt: [String] = []

    @Option(name: .customLong("max-decompressed-size"), help: "The most a compressed layer or archive may expand to when loaded, imported or pulled (64GiB)")
    var maxDecompressedSize = "64GiB"

    @Option(name: .customLong("http-header-timeout"), help: "Seconds a client may take to send a request head before the connection is closed (30)")
    var httpHeaderTimeout = 30

    @Option(name: .customLong("http-idle-timeout"), help: "Seconds a kept-alive connection may wait for its next request (300)")
    var httpIdleTimeout = 300

    @Option(name: [.customShort("b"), .customLong("bridge")], help: "`none`: no default bridge; containers of the default network get loopback only")
    var bridge: String?

    @Option(name: .customLong("bip"), help: "The default bridge's address and prefix (e.g. 172.20.0.1/16)")
    var bip: String?

    @Option(name: .customLong("fixed-cidr"), help: "The range the default bridge gives addresses from (within its subnet)")
    var fixedCIDR: String?

    @Flag(name: .customLong("ipv6"), help: "Give the default bridge IPv6 as well")
    var ipv6 = false

    @Option(name: .customLong("userland-proxy"), help: "Also listen on published ports and relay to the container (true/false; default false: DNAT only)")
    var userlandProxy = "false"

    @Option(name: .customLong("fixed-cidr-v6"), help: "The default bridge's IPv6 subnet (with --ipv6; a unique local /64 when not given)")
    var fixedCIDRv6: String?

    @Option(name: .customLong("default-address-pool"), help: "Pools new networks take subnets from: base=CIDR,size=N (repeatable)")
    var defaultAddressPool: [String] = []

    func networkConfig() throws -> NetworkConfig {
        var c = NetworkConfig()
        if let b = bridge {
            if b == "none" { c.defaultBridge = false }
            else { throw ValidationError("--bridge: only `none` is supported (Berth makes its own bridge, berth0)") }
        }
        if let bip {
            guard Subnet(bip) != nil, IPv4(bip.split(separator: "/")[0]) != nil else { throw ValidationError("--bip: invalid address \(bip)") }
            c.bip = bip
        }
        if let f = fixedCIDR {
            guard Subnet(f, strict: true) != nil else { throw ValidationError("--fixed-cidr: invalid CIDR \(f)") }
            c.fixedCIDR = f
        }
        if let f = fixedCIDRv6 {
            guard Subnet6(f, strict: true) != nil else { throw ValidationError("--fixed-cidr-v6: invalid CIDR \(f)") }
            c.fixedCIDRv6 = f
        }
        c.ipv6 = ipv6
        switch userlandProxy {
        case "true", "1": c.userlandProxy = true
        case "false", "0": c.userlandProxy = false
        default: throw ValidationError("--userland-proxy: true or false, not \(userlandProxy)")
        }
        if !defaultAddressPool.isEmpty {
            c.pools = try defaultAddressPool.map { p in
                guard let pool = AddressPools.parse(p) else { throw ValidationError("--default-address-pool: invalid \(p)") }
                return pool
            }
        }
        return c
    }

    func run() async throws {
        MemoryReclaim.limitArenas()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let log = Log.logger("daemon")
        let listen = try (hosts.isEmpty ? ["unix:///run/berth/berth.sock"] : hosts).map(ListenAddress.init(parse:))
        for a in listen where !a.isLoopback && !tlsVerify && !insecureTcp {
            throw ValidationError("refusing to listen on \(a) without --tlsverify: anyone who can reach it controls this host as root. Use --tlsverify with client certificates (berthd tls init makes them), a loopback address or the unix socket, or pass --insecure-tcp if you really mean it.")
        }
        let serverTLS: ServerTLS? = tls || tlsVerify
            ? ServerTLS(certificate: tlsCert, key: tlsKey, ca: tlsVerify ? tlsCACert : nil, verifyClients: tlsVerify) : nil
        var logOptions: [String: String] = [:]
        for o in logOpt {
            guard let eq = o.firstIndex(of: "=") else { throw ValidationError("--log-opt wants KEY=VALUE, got \(o)") }
            logOptions[String(o[..<eq])] = String(o[o.index(after: eq)...])
        }
        let logLimits: LogLimits
        do { logLimits = try LogLimits.defaults.applying(logOptions) } catch { throw ValidationError("--log-opt: \(error)") }
        guard let expansionLimit = LogLimits.parseSize(maxDecompressedSize), expansionLimit > 0 else {
            throw ValidationError("--max-decompressed-size: invalid size '\(maxDecompressedSize)'")
        }
        guard httpHeaderTimeout > 0, httpIdleTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        try PidFile.claim(pidfile)
        defer { unlink(pidfile) }

        var config = EngineConfig(dataRoot: dataRoot, execRoot: execRoot, logLimits: logLimits,
                                  registries: RegistryConfig(mirrors: registryMirror, insecure: insecureRegistry),
                                  expansionLimit: expansionLimit, network: try networkConfig())
        // The resolver is this executable: `berthd resolver`.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        config.resolverCommand = [exe, "resolver", "--log-level", logLevel]
        let engine = try Engine(config: config)
        try await engine.start()
        let server = HTTPServer(router: APIRoutes.make(engine: engine), headTimeout: .seconds(httpHeaderTimeout),
                                idleTimeout: .seconds(httpIdleTimeout))
        let gid = getgrnam(group)?.pointee.gr_gid
        for a in listen {
            switch a {
            case .tcp:
                try await server.bind(a, tls: serverTLS)
            case .unix(let path):
                try await server.bind(a)
                if let gid { chown(path, 0, gid) } else if group != "docker" { log.warning("group \(group) not found; the socket stays root's") }
            }
        }
        log.info("berthd \(ServerInfo.version) ready", metadata: ["data-root": "\(dataRoot)", "exec-root": "\(execRoot)"])

        let reclaim = Task.detached(priority: .background) { await MemoryReclaim.every(.seconds(30)) }
        await ShutdownSignal.wait()
        reclaim.cancel()
        log.info("shutting down; containers keep running")
        await server.shutdown()
        await engine.stop()
    }
}

/// `berthd resolver`: the embedded DNS's own process, started by berthd (not by hand).
struct ResolverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolver",
        abstract: "Answer DNS at 127.0.0.11 in containers on user networks (berthd starts it; it outlives berthd).",
        shouldDisplay: false)

    @Option(name: .long, help: "berthd's --exec-root")
    var execRoot: String

    @Option(name: .long, help: "berthd's store (berth.db)")
    var database: String

    @Option(name: .long, help: "Log level")
    var logLevel = "info"

    func run() async throws {
        MemoryReclaim.limitArenas()
        signal(SIGPIPE, SIG_IGN)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        try await ResolverDaemon.run(execRoot: execRoot, database: database)
    }
}

/// One daemon per pid file.
enum PidFile {
    static func claim(_ path: String) throws {
        if let s = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)),
           pid != getpid(), Syscall.processExists(pid),
           ((FS.readText("/proc/\(pid)/comm")) ?? "").hasPrefix("berthd") {
            throw ValidationError("pid file found, ensure berthd is not running or delete \(path)")
        }
        try FS.mkdirAll((path as NSString).deletingLastPathComponent, mode: 0o755)
        try FS.write(path, "\(getpid())\n")
    }
}

/// Resumes when SIGTERM or SIGINT arrives.
enum ShutdownSignal {
    static func wait() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let (stream, cont) = AsyncStream.makeStream(of: Void.self)
        let sources = [SIGTERM, SIGINT].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { cont.yield() }
            s.resume()
            return s
        }
        for await _ in stream { break }
        sources.forEach { $0.cancel() }
    }
}

/// `berthd tls init`: certificates for remote access over mutual TLS.
struct TLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tls", abstract: "Certificates for remote access.",
                                                    subcommands: [TLSInit.self])
}

struct TLSInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a CA, a server and a client certificate for `berthd --tlsverify` and `docker --tlsverify`.")

    @Option(name: .long, help: "Name clients use to reach this host (repeatable)")
    var hostname: [String] = []

    @Option(name: .long, help: "IP address clients use to reach this host (repeatable)")
    var ip: [String] = []

    @Option(name: .long, help: "Where to write them")
    var dir = "/etc/berth/tls"

    func run() throws {
        let names = hostname.isEmpty ? [ProcessInfo.processInfo.hostName] : hostname
        let p = try CertificateAuthority.initialise(dir: dir, hostnames: names, ips: ip)
        print("""
        Wrote a CA and certificates to \(p.dir) (keys 0600).
        Start berthd with:  berthd -H unix:///run/berth/berth.sock -H tcp://0.0.0.0:2376 --tlsverify \\
                              --tlscacert \(p.ca) --tlscert \(p.serverCert) --tlskey \(p.serverKey)
        Copy \(p.clientDir) to the client, then:
          export DOCKER_HOST=tcp://\(ip.first ?? names[0]):2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=<that directory>
        """)
    }
}
