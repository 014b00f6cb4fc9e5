#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation
import Logging

/// The data path on this host: namespaces and addresses in process, veths with iproute2 (one
/// `ip -batch` per endpoint) and nftables (`nft -f`, one atomic transaction per change): a few
/// milliseconds per container. Arguments are built here from validated names and addresses;
/// nothing passes through a shell.
public final class LinuxNetworkHost: NetworkHost {
    let log = Log.logger("network")
    let ip: String
    let nft: String

    public init() throws {
        func find(_ name: String) throws -> String {
            for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
            throw BerthError.system("networking needs `\(name)` (Debian packages iproute2, nftables, util-linux)")
        }
        ip = try find("ip"); nft = try find("nft")
    }

    func run(_ argv: [String], input: String? = nil) async throws {
        let r = try await Subprocess.run(argv, input: input.map { Array($0.utf8) })
        if r.status != 0 {
            let what = argv.prefix(3).joined(separator: " ")
            throw BerthError.system("\(what): \(r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    public func setUp(bridges: [BridgeSpec], ports: [PortMapping]) async throws {
        Self.sysctl("net/ipv4/ip_forward", "1")
        try await run([nft, "-f", "-"], input: NftRules.ruleset(bridges: bridges, ports: ports))
    }

    func linkExists(_ name: String) async -> Bool {
        (try? await Subprocess.run([ip, "-o", "link", "show", "dev", name]))?.status == 0
    }

    public func addBridge(_ b: BridgeSpec) async throws {
        let address = "\(b.gateway)/\(b.subnet.prefix)"
        if await linkExists(b.name) {
            // Left from before (berthd restarted, or its data root was reset): it must carry this
            // gateway address and no other.
            let shown = (try? await Subprocess.run([ip, "-o", "-4", "addr", "show", "dev", b.name]))?.stdoutText ?? ""
            let addrs = shown.split(separator: "\n").compactMap { l -> String? in
                let f = l.split(separator: " ")
                guard let i = f.firstIndex(of: "inet"), i + 1 < f.count else { return nil }
                return String(f[i + 1])
            }
            if addrs != [address] {
                try await run([ip, "-batch", "-"], input: "addr flush dev \(b.name)\naddr add \(address) dev \(b.name)\nlink set \(b.name) up\n")
            }
            if let s6 = b.subnet6, let g6 = b.gateway6 {
                try await run([ip, "-6", "addr", "replace", "\(g6)/\(s6.prefix)", "dev", b.name, "nodad"])
            }
        } else {
            let batch = """
            link add \(b.name) type bridge
            link set \(b.name) address \(b.mac)
            addr add \(address) dev \(b.name)
            link set \(b.name) up

            """ + (b.subnet6.flatMap { s6 in b.gateway6.map { "addr add \($0)/\(s6.prefix) dev \(b.name) nodad\n" } } ?? "")
            do { try await run([ip, "-batch", "-"], input: batch) } catch {
                _ = try? await Subprocess.run([ip, "link", "del", b.name])
                throw error
            }
        }
        // 127.0.0.1 publishing: DNAT to the bridge from loopback sources.
        Self.sysctl("net/ipv4/conf/\(b.name)/route_localnet", "1")
        if b.subnet6 != nil { Self.sysctl("net/ipv6/conf/all/forwarding", "1") }
        try await run([nft, "-f", "-"], input: NftRules.bridgeElements(b, verb: "add"))
    }

    /// Writes a sysctl of berthd's network namespace (in place: /proc/sys takes no renames).
    static func sysctl(_ key: String, _ value: String) {
        let fd = open("/proc/sys/" + key, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    public func removeBridge(_ b: BridgeSpec) async {
        do { try await run([nft, "-f", "-"], input: NftRules.bridgeElements(b, verb: "delete")) }
        catch { log.debug("nft elements of \(b.name): \(error)") }
        _ = try? await Subprocess.run([ip, "link", "del", b.name])
    }

    public func createSandbox(_ path: String) async throws {
        if Self.isNamespaceMount(path) { return }
        try FS.mkdirAll((path as NSString).deletingLastPathComponent, mode: 0o711)
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BerthError.system("create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        // In process (unshare, bind mount, lo up, back): an `unshare` run would cost ~4 ms.
        let r = berth_create_netns(path)
        if r != 0 {
            unlink(path)
            throw BerthError.system("network namespace at \(path): \(String(cString: strerror(-r)))")
        }
    }

    public func destroySandbox(_ path: String) async {
        _ = umount2(path, Int32(MNT_DETACH))
        unlink(path)
    }

    /// Whether `path` is a bind-mounted network namespace (a sandbox that survived a berthd restart).
    static func isNamespaceMount(_ path: String) -> Bool {
        // A mount point: its device differs from its directory's (an nsfs file over an empty one).
        var file = stat(), dir = stat()
        guard stat(path, &file) == 0, stat((path as NSString).deletingLastPathComponent, &dir) == 0 else { return false }
        return file.st_dev != dir.st_dev
    }

    /// One `ip` run on the host side makes the pair with its inner end (named and addressed for
    /// the container) created straight in the sandbox, and puts the outer end on the bridge with
    /// hairpin on; the address, link and default route inside are set in process.
    public func attach(_ e: EndpointSpec) async throws {
        guard !e.sandbox.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else {
            throw BerthError.system("the exec root may not contain white space: \(e.sandbox)")
        }
        let batch = """
        link add \(e.hostIfname) master \(e.bridge) up type veth peer name \(e.ifname) address \(e.mac) netns \(e.sandbox)
        link set dev \(e.hostIfname) type bridge_slave hairpin on

        """
        try await run([ip, "-batch", "-"], input: batch)
        let r = berth_netns_configure(e.sandbox, e.ifname, e.address.value, Int32(e.prefix), e.defaultRoute ? e.gateway.value : 0)
        if r != 0 {
            await detach(e)
            throw BerthError.system("configuring \(e.ifname) in \(e.sandbox): \(String(cString: strerror(-r)))")
        }
        if let a6 = e.address6 {
            let r6 = a6.bytes.withUnsafeBufferPointer { a in
                if let g = e.gateway6 {
                    return g.bytes.withUnsafeBufferPointer { g in berth_netns_configure6(e.sandbox, e.ifname, a.baseAddress, Int32(e.prefix6), g.baseAddress) }
                }
                return berth_netns_configure6(e.sandbox, e.ifname, a.baseAddress, Int32(e.prefix6), nil)
            }
            if r6 != 0 {
                await detach(e)
                throw BerthError.system("configuring IPv6 on \(e.ifname) in \(e.sandbox): \(String(cString: strerror(-r6)))")
            }
        }
    }

    public func detach(_ e: EndpointSpec) async {
        _ = try? await Subprocess.run([ip, "link", "del", e.hostIfname])
    }

    public func publish(_ ports: [PortMapping]) async throws {
        guard !ports.isEmpty else { return }
        try await run([nft, "-f", "-"], input: NftRules.portElements(ports, verb: "add"))
    }

    public func unpublish(_ ports: [PortMapping]) async {
        guard !ports.isEmpty else { return }
        do { try await run([nft, "-f", "-"], input: NftRules.portElements(ports, verb: "delete")) }
        catch {
            // One missing element fails the transaction: take them one at a time.
            for p in ports { _ = try? await run([nft, "-f", "-"], input: NftRules.portElements([p], verb: "delete")) }
        }
    }

    public func socket(inSandbox path: String, address: IPv4, port: UInt16, stream: Bool) throws -> Int32 {
        try Self.socket(inSandbox: path, address: address, port: port, stream: stream)
    }

    /// A socket bound (and listening, for a stream one) at `address:port` inside the namespace at `path`.
    public static func socket(inSandbox path: String, address: IPv4, port: UInt16, stream: Bool) throws -> Int32 {
        let fd = berth_socket_in_netns(path, address.value, port, stream ? 1 : 0)
        guard fd >= 0 else { throw BerthError.system("socket in \(path): \(String(cString: strerror(-fd)))") }
        return fd
    }
}
