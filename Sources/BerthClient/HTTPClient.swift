import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where a Berth (or Docker) daemon listens.
public enum DaemonAddress: Sendable {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// `tcp://127.0.0.1:2375`, `unix:///run/berth/berth.sock`
    public init?(_ s: String) {
        if s.hasPrefix("unix://") { self = .unix(path: String(s.dropFirst(7))); return }
        let rest = s.hasPrefix("tcp://") ? String(s.dropFirst(6)) : s
        guard let c = rest.lastIndex(of: ":"), let p = Int(rest[rest.index(after: c)...]) else { return nil }
        self = .tcp(host: String(rest[..<c]), port: p)
    }
}

/// A raw HTTP answer.
public struct HTTPReply: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]
    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Mutual TLS to a daemon started with `--tlsverify`: the CA that signed its certificate, and
/// this client's certificate and key (the files `DOCKER_CERT_PATH` holds).
public struct ClientTLS: Sendable {
    public var ca: String
    public var certificate: String
    public var key: String

    public init(ca: String, certificate: String, key: String) { self.ca = ca; self.certificate = certificate; self.key = key }

    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`, as the docker CLI reads them.
    public init(certPath dir: String) { self.init(ca: dir + "/ca.pem", certificate: dir + "/cert.pem", key: dir + "/key.pem") }

    func context() throws -> NIOSSLContext {
        var c = TLSConfiguration.makeClientConfiguration()
        c.minimumTLSVersion = .tlsv12
        c.trustRoots = .file(ca)
        c.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        c.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        return try NIOSSLContext(configuration: c)
    }
}

/// A minimal HTTP/1.1 client over SwiftNIO: one connection per request, whole bodies.
public final class HTTPClient: Sendable {
    let address: DaemonAddress
    let group: MultiThreadedEventLoopGroup
    let tls: NIOSSLContext?

    public init(address: DaemonAddress) {
        self.address = address
        tls = nil
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    public init(address: DaemonAddress, tls: ClientTLS) throws {
        self.address = address
        self.tls = try tls.context()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit { try? group.syncShutdownGracefully() }

    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil,
                        headers: [(String, String)] = []) async throws -> HTTPReply {
        let promise = group.next().makePromise(of: HTTPReply.self)
        let tls = self.tls
        // SNI and name checks take a DNS name; an IP address is checked against the certificate's IPs.
        var serverName: String? = nil
        if case .tcp(let h, _) = address, !h.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) { serverName = h }
        let bootstrap = ClientBootstrap(group: group).channelInitializer { ch in
            ch.eventLoop.makeCompletedFuture {
                if let tls { try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                try ch.pipeline.syncOperations.addHTTPClientHandlers()
                try ch.pipeline.syncOperations.addHandler(ReplyCollector(promise: promise))
            }
        }
        let channel: any Channel
        do {
            switch address {
            case .tcp(let h, let p): channel = try await bootstrap.connect(host: h, port: p).get()
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            promise.fail(error)
            throw error
        }
        var h = HTTPHeaders()
        if !headers.contains(where: { $0.0.lowercased() == "host" }) {
            switch address {
            case .tcp(let host, let port): h.add(name: "Host", value: (host.contains(":") ? "[\(host)]" : host) + ":\(port)")
            case .unix: h.add(name: "Host", value: "localhost")
            }
        }
        h.add(name: "Connection", value: "close")
        for (k, v) in headers { h.add(name: k, value: v) }
        if let body { h.add(name: "Content-Length", value: String(body.count)) }
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: h)), promise: nil)
        if let body, !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }
}

final class ReplyCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<HTTPReply>
    var head: HTTPResponseHead?
    var body: [UInt8] = []

    init(promise: EventLoopPromise<HTTPReply>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body(let b): body.append(contentsOf: b.readableBytesView)
        case .end:
            let h = head
            promise.succeed(HTTPReply(status: Int(h?.status.code ?? 0), headers: h?.headers.map { ($0.name, $0.value) } ?? [], body: body))
        }
    }
    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
