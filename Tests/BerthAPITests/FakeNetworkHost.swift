#if canImport(Glibc)
import Glibc
#endif
import BerthNetwork
import BerthSystem
import Foundation
import Synchronization

/// A NetworkHost that changes nothing on the host: it keeps what it was told, so tests can
/// check that bridges, endpoints and ports come and go with networks and containers.
final class FakeNetworkHost: NetworkHost {
    struct State {
        var bridges: [String: BridgeSpec] = [:]
        var sandboxes = Set<String>()
        var endpoints: [String: EndpointSpec] = [:]
        var ports = Set<PortMapping>()
        var tables = 0
    }
    let state = Mutex(State())

    func setUp(bridges: [BridgeSpec], ports: [PortMapping]) async throws {
        state.withLock { s in
            s.tables += 1
            s.ports = Set(ports)
        }
    }
    func addBridge(_ b: BridgeSpec) async throws { state.withLock { $0.bridges[b.name] = b } }
    func removeBridge(_ b: BridgeSpec) async { _ = state.withLock { $0.bridges.removeValue(forKey: b.name) } }
    /// An empty file stands for the namespace (the engine checks that the path exists).
    func createSandbox(_ path: String) async throws {
        try FS.mkdirAll((path as NSString).deletingLastPathComponent, mode: 0o711)
        try FS.write(path, "")
        _ = state.withLock { $0.sandboxes.insert(path) }
    }
    func destroySandbox(_ path: String) async {
        FS.removeAll(path)
        // As the kernel does: a destroyed namespace takes its veth pairs with it.
        state.withLock { s in
            s.sandboxes.remove(path)
            s.endpoints = s.endpoints.filter { $0.value.sandbox != path }
        }
    }
    func attach(_ e: EndpointSpec) async throws {
        try state.withLock { s in
            guard s.sandboxes.contains(e.sandbox) else { throw BerthError.system("no sandbox \(e.sandbox)") }
            guard s.bridges[e.bridge] != nil else { throw BerthError.system("no bridge \(e.bridge)") }
            s.endpoints[e.hostIfname] = e
        }
    }
    func detach(_ e: EndpointSpec) async { _ = state.withLock { $0.endpoints.removeValue(forKey: e.hostIfname) } }
    func publish(_ ports: [PortMapping]) async throws { state.withLock { for p in ports { $0.ports.insert(p) } } }
    func unpublish(_ ports: [PortMapping]) async { state.withLock { for p in ports { $0.ports.remove(p) } } }
    /// A loopback datagram socket on a free port of this namespace.
    func socket(inSandbox path: String, address: IPv4, port: UInt16, stream: Bool) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { close(fd); throw BerthError.system("bind") }
        return fd
    }
}
