import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

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

/// A minimal HTTP/1.1 client over SwiftNIO: one connection per request, whole bodies.
public final class HTTPClient: Sendable {
    let address: DaemonAddress
    let group: MultiThreadedEventLoopGroup

    public init(address: DaemonAddress) {
        self.address = address
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit { try? group.syncShutdownGracefully() }

    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil,
                        headers: [(String, String)] = []) async throws -> HTTPReply {
        let promise = group.next().makePromise(of: HTTPReply.self)
        let bootstrap = ClientBootstrap(group: group).channelInitializer { ch in
            ch.eventLoop.makeCompletedFuture {
                try ch.pipeline.syncOperations.addHTTPClientHandlers()
                try ch.pipeline.syncOperations.addHandler(ReplyCollector(promise: promise))
            }
        }
        let channel: any Channel
        switch address {
        case .tcp(let h, let p): channel = try await bootstrap.connect(host: h, port: p).get()
        case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
        var h = HTTPHeaders()
        h.add(name: "Host", value: "berth")
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
