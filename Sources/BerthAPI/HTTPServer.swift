import BerthSystem
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Where berthd listens: `tcp://HOST:PORT` or `unix:///path`.
public enum ListenAddress: Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses dockerd's `-H` syntax.
    public init(parse s: String) throws {
        if s.hasPrefix("unix://") {
            self = .unix(path: String(s.dropFirst(7)))
        } else if s.hasPrefix("tcp://") || s.hasPrefix("http://") {
            let rest = s.hasPrefix("tcp://") ? s.dropFirst(6) : s.dropFirst(7)
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
                throw BerthError.invalid("invalid listen address \(s): want tcp://HOST:PORT")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host.isEmpty ? "0.0.0.0" : host, port: port)
        } else {
            throw BerthError.invalid("invalid listen address \(s): want tcp://HOST:PORT or unix:///PATH")
        }
    }

    /// True for addresses only this machine can reach.
    public var isLoopback: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _): return host.hasPrefix("127.") || host == "localhost" || host == "::1"
        }
    }

    public var description: String {
        switch self {
        case .tcp(let h, let p): return "tcp://\(h):\(p)"
        case .unix(let p): return "unix://\(p)"
        }
    }
}

/// The HTTP/1.1 server: SwiftNIO with a handler of our own, because attach and exec leave HTTP
/// mid-connection (hijack), which includes requests that carry a body (exec start).
public final class HTTPServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let router: Router
    let log = Log.logger("http")
    private let channels = Mutex<[any Channel]>([])

    /// How long a request head may take, and how long a kept-alive connection may sit idle.
    let headTimeout: TimeAmount
    let idleTimeout: TimeAmount

    public init(router: Router, threads: Int = System.coreCount, headTimeout: Duration = .seconds(30),
                idleTimeout: Duration = .seconds(300)) {
        self.router = router
        self.headTimeout = TimeAmount(headTimeout)
        self.idleTimeout = TimeAmount(idleTimeout)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// Listens on `address`; with `tls`, every connection starts with a TLS handshake. A plain
    /// TCP listener answers only requests whose Host is an IP address or localhost, so a web page
    /// that a browser loads cannot reach it through a DNS name (rebinding).
    public func bind(_ address: ListenAddress, tls: ServerTLS? = nil) async throws {
        let router = self.router
        let sslContext = try tls?.context()
        var guardHost = false
        if case .tcp = address, tls == nil { guardHost = true }
        let checkHost = guardHost
        let (headTimeout, idleTimeout) = (self.headTimeout, self.idleTimeout)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext { try sync.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try Self.addHTTPHandlers(sync, router: router, guardHost: checkHost, headTimeout: headTimeout, idleTimeout: idleTimeout)
                }
            }
        let channel: any Channel
        do {
            switch address {
            case .tcp(let host, let port):
                channel = try await bootstrap.bind(host: host, port: port).get()
            case .unix(let path):
                try FS.mkdirAll((path as NSString).deletingLastPathComponent, mode: 0o755)
                FS.removeAll(path)
                channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                chmod(path, 0o660)
            }
        } catch {
            throw BerthError.system("cannot listen on \(address): \(error)")
        }
        channels.withLock { $0.append(channel) }
        log.info("API listening on \(address)\(tls == nil ? "" : tls!.verifyClients ? " (TLS, client certificates required)" : " (TLS)")")
    }

    /// The handlers of one API connection, after TLS: timeouts, HTTP/1.1 decoding and encoding,
    /// and the handler that routes requests and hijacks connections. On the channel's event loop;
    /// tests put them on an in-memory channel.
    public static func addHTTPHandlers(_ sync: ChannelPipeline.SynchronousOperations, router: Router, guardHost: Bool = false,
                                       headTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount = .seconds(300)) throws {
        try sync.addHandler(ConnectionTimeouts(headTimeout: headTimeout, idleTimeout: idleTimeout), name: ConnectionTimeouts.name)
        try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
                            name: HTTPConnectionHandler.decoderName)
        try sync.addHandler(HTTPResponseEncoder(), name: HTTPConnectionHandler.encoderName)
        try sync.addHandler(HTTPConnectionHandler(router: router, guardHost: guardHost), name: HTTPConnectionHandler.handlerName)
    }

    /// Closes the listeners. The event loops stay up for the connections still open (their
    /// requests may still write an answer); berthd exits right after, which ends them.
    public func shutdown() async {
        for c in channels.withLock({ $0 }) { try? await c.close().get() }
    }
}
