import BerthNetwork
import BerthStore
import Foundation

/// Who answers at 127.0.0.11 in containers on user networks. berthd uses `ResolverProcess`
/// (a process of its own that keeps answering while berthd is down); `InProcessNames` serves
/// from berthd itself (the API tier's fake network host).
public protocol NameService: Sendable {
    /// Starts answering in the container's namespace (again, if it already was).
    func serve(containerID: String, sandbox: String, upstreams: [String]) async throws
    func stop(containerID: String) async
    /// Without waiting: whether the container has a resolver.
    func isServing(_ containerID: String) -> Bool
    /// At daemon start: what is served now, so it can be matched with the running containers.
    func served() async -> [String]
    /// At daemon start: a container found served is one berthd serves.
    func adopt(containerID: String, sandbox: String, upstreams: [String]) async
}

extension EmbeddedDNS {
    /// A resolver whose names come from the store.
    static func fromStore(_ store: Store, upstreams: [String]) -> EmbeddedDNS {
        EmbeddedDNS(upstreams: upstreams, names: Names(
            addresses: { asker, name in (try? store.resolveName(asker: asker, name: name)) ?? [] },
            name: { asker, address in (try? store.reverseName(asker: asker, ip: address)) ?? nil }))
    }

    static var hostUpstreams: [String] {
        nameservers((try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
    }
}

/// Names served from berthd's own event loops (UDP only), over the network host's sockets.
public struct InProcessNames: NameService {
    let dns: EmbeddedDNS
    let host: any NetworkHost

    public init(store: Store, host: any NetworkHost) {
        dns = EmbeddedDNS.fromStore(store, upstreams: EmbeddedDNS.hostUpstreams)
        self.host = host
    }

    public func serve(containerID: String, sandbox: String, upstreams: [String]) async throws {
        let fd = try host.socket(inSandbox: sandbox, address: ResolverAddress.ip, port: 53, stream: false)
        do { try await dns.serve(containerID: containerID, udp: fd, upstreams: upstreams) } catch { close(fd); throw error }
    }
    public func stop(containerID: String) async { await dns.stop(containerID: containerID) }
    public func isServing(_ containerID: String) -> Bool { dns.isServing(containerID) }
    public func served() async -> [String] { dns.servedIDs }
    public func adopt(containerID: String, sandbox: String, upstreams: [String]) async {}
}

enum ResolverAddress {
    static let ip = IPv4(127 << 24 | 11)
}
