import BerthModels
import BerthSystem
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One HTTP connection: parses requests, runs each in a Task through the router, writes the
/// response, and performs the hijack when a route asks for it.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let decoderName = "berth.http.decoder"
    static let encoderName = "berth.http.encoder"
    static let handlerName = "berth.http.handler"

    let router: Router
    private var body: RequestBody?
    private var task: Task<Void, Never>?
    /// The client half-closed while a request was in flight: close once it is answered.
    private var closeWhenDone = false

    init(router: Router) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let body = RequestBody(channel: context.channel)
            self.body = body
            let channel = context.channel
            let router = self.router
            let keepAlive = head.isKeepAlive
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            task = Self.spawn(head: head, body: body, channel: channel, router: router, keepAlive: keepAlive) {
                channel.eventLoop.execute { handler.value.requestFinished(channel) }
            }
        case .body(let buf):
            if let b = body, !b.append(buf) {
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
        case .end:
            body?.finish()
            body = nil
        }
    }

    /// Runs on the event loop after a response (not a hijack) was written.
    func requestFinished(_ channel: any Channel) {
        task = nil
        if closeWhenDone { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        body?.finish()
        task?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            // The client will send nothing more; finish what is in flight, then close.
            body?.finish()
            if task == nil { context.close(promise: nil) } else { closeWhenDone = true }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Unparseable HTTP or a broken socket: nothing sensible can be answered.
        body?.finish()
        context.close(promise: nil)
    }

    // MARK: serving (off the event loop)

    static func spawn(head: HTTPRequestHead, body: RequestBody, channel: any Channel, router: Router,
                      keepAlive: Bool, done: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        Task {
            await serve(head: head, body: body, channel: channel, router: router, keepAlive: keepAlive)
            done()
        }
    }

    static let standardHeaders: [(String, String)] = [
        ("Api-Version", APIVersion.current.description), ("Docker-Experimental", "false"), ("Ostype", "linux"),
        ("Server", "Berth/\(ServerInfo.version) (linux)"),
    ]

    static func serve(head: HTTPRequestHead, body: RequestBody, channel: any Channel, router: Router, keepAlive: Bool) async {
        var response = await router.handle(head: head, body: body)
        for (k, v) in standardHeaders where !response.headers.contains(name: k) { response.headers.add(name: k, value: v) }
        do {
            switch response.body {
            case .none, .bytes:
                var bytes: [UInt8] = []
                if case .bytes(let b) = response.body { bytes = b }
                var h = response.headers
                if response.status != .notModified && response.status != .noContent || !bytes.isEmpty {
                    h.replaceOrAdd(name: "Content-Length", value: String(bytes.count))
                }
                if !keepAlive { h.replaceOrAdd(name: "Connection", value: "close") }
                channel.write(HTTPServerResponsePart.head(.init(version: head.version, status: response.status, headers: h)),
                              promise: nil)
                if !bytes.isEmpty && head.method != .HEAD {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
                body.discardRest()
                if !keepAlive { try? await channel.close().get() }
            case .stream(let produce):
                var h = response.headers
                h.remove(name: "Content-Length")
                try await channel.writeAndFlush(HTTPServerResponsePart.head(.init(version: head.version, status: response.status,
                                                                                   headers: h))).get()
                let writer = ChannelResponseWriter(channel: channel)
                do { try await produce(writer) } catch is CancellationError {} catch {
                    Log.logger("http").debug("stream ended: \(error)")
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
                body.discardRest()
                if !keepAlive { try? await channel.close().get() }
            case .hijack(let run):
                let upgrade = head.headers["Upgrade"].contains { $0.lowercased() == "tcp" }
                let stream = try await hijack(channel: channel, status: response.status, headers: response.headers,
                                              upgrade: upgrade)
                await run(stream)
                await stream.close()
            }
        } catch {
            try? await channel.close().get()
        }
    }

    /// Leaves HTTP: swaps the HTTP handlers for a raw one and writes the `101 UPGRADED` head.
    static func hijack(channel: any Channel, status: HTTPResponseStatus, headers: HTTPHeaders, upgrade: Bool) async throws -> ChannelHijackedStream {
        let (input, cont) = AsyncStream.makeStream(of: [UInt8].self)
        var head = upgrade ? "HTTP/1.1 101 UPGRADED\r\n" : "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        var h = headers
        if upgrade { h.replaceOrAdd(name: "Connection", value: "Upgrade"); h.replaceOrAdd(name: "Upgrade", value: "tcp") }
        for (k, v) in h { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        let headBytes = head
        try await channel.eventLoop.submit {
            let sync = channel.pipeline.syncOperations
            let raw = RawStreamHandler(continuation: cont)
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try sync.addHandler(raw, position: .after(decoder))
            _ = channel.pipeline.removeHandler(name: handlerName)
            _ = channel.pipeline.removeHandler(name: encoderName)
            channel.writeAndFlush(ByteBuffer(string: headBytes), promise: nil)
            _ = channel.pipeline.removeHandler(name: decoderName)
            _ = channel.setOption(ChannelOptions.autoRead, value: true)
        }.get()
        return ChannelHijackedStream(channel: channel, input: input)
    }
}

/// After the hijack: bytes from the client go to `input`; EOF (half-close) ends it.
final class RawStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<[UInt8]>.Continuation
    init(continuation: AsyncStream<[UInt8]>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        if buf.readableBytes > 0 { continuation.yield(Array(buf.readableBytesView)) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { continuation.finish(); return }
        context.fireUserInboundEventTriggered(event)
    }
    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish()
        context.close(promise: nil)
    }
}

struct ChannelHijackedStream: HijackedStream {
    let channel: any Channel
    let input: AsyncStream<[UInt8]>

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }
    func closeWrite() async {
        try? await channel.close(mode: .output).get()
    }
    func close() async {
        try? await channel.close().get()
    }
}

struct ChannelResponseWriter: ResponseWriter {
    let channel: any Channel
    func write(_ bytes: [UInt8]) async throws {
        if bytes.isEmpty { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
    }
}
