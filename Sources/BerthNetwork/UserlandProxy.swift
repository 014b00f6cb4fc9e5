import BerthSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// `--userland-proxy`: published ports also listened on by berthd, which relays each TCP
/// connection or UDP flow to the container. DNAT still serves what it can (it comes first);
/// the listener serves what DNAT cannot (the IPv6 loopback) and holds the port on the host, so
/// a port some host process has is refused at start, as with dockerd's proxy.
public final class UserlandProxy: Sendable {
    struct Key: Hashable { let proto: String; let hostIP: IPv4?; let hostPort: UInt16 }
    let listeners = NIOLockedValueBox<[Key: [any Channel]]>([:])
    let group: any EventLoopGroup
    let log = Log.logger("proxy")
    /// UDP flows one listener keeps at most (the oldest idle ones go first).
    static let maxFlows = 1024
    static let udpIdle: TimeAmount = .seconds(60)

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) { self.group = group }

    /// Listens for each mapping (on every IPv4 and IPv6 address when it has no host address);
    /// nothing is left listening when one of them cannot be bound.
    public func start(_ mappings: [PortMapping]) async throws {
        var started: [PortMapping] = []
        do {
            for m in mappings where m.proto == "tcp" || m.proto == "udp" {
                var channels: [any Channel] = []
                do {
                    let v4 = try SocketAddress(ipAddress: m.containerIP.description, port: Int(m.containerPort))
                    channels.append(try await listen(m, host: m.hostIP?.description ?? "0.0.0.0", v6only: false, target: v4))
                    if m.hostIP == nil {
                        let target = try m.containerIP6.map { try SocketAddress(ipAddress: $0.description, port: Int(m.containerPort)) } ?? v4
                        // A host without IPv6 keeps the IPv4 listener.
                        do { channels.append(try await listen(m, host: "::", v6only: true, target: target)) }
                        catch { log.debug("no IPv6 listener: \(error)") }
                    }
                } catch {
                    for c in channels { _ = try? await c.close().get() }
                    throw error
                }
                let old = listeners.withLockedValue { $0.updateValue(channels, forKey: Key(proto: m.proto, hostIP: m.hostIP, hostPort: m.hostPort)) }
                for c in old ?? [] { _ = try? await c.close().get() }
                started.append(m)
            }
        } catch {
            await stop(started)
            throw error
        }
    }

    public func stop(_ mappings: [PortMapping]) async {
        for m in mappings {
            let chans = listeners.withLockedValue { $0.removeValue(forKey: Key(proto: m.proto, hostIP: m.hostIP, hostPort: m.hostPort)) }
            for c in chans ?? [] { _ = try? await c.close().get() }
        }
    }

    func listen(_ m: PortMapping, host: String, v6only: Bool, target: SocketAddress) async throws -> any Channel {
        let family = v6only ? "6" : "4"
        do {
            if m.proto == "tcp" {
                var b = ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelOption(.autoRead, value: false)
                    .childChannelInitializer { inbound in
                        ClientBootstrap(group: inbound.eventLoop)
                            .channelOption(.allowRemoteHalfClosure, value: true)
                            .connect(to: target)
                            .flatMapThrowing { outbound in
                                let (a, b) = Glue.pair()
                                try inbound.pipeline.syncOperations.addHandler(a)
                                try outbound.pipeline.syncOperations.addHandler(b)
                            }
                    }
                if v6only { b = b.serverChannelOption(.socket(SocketOptionLevel(IPPROTO_IPV6), SocketOptionName(IPV6_V6ONLY)), value: 1) }
                return try await b.bind(host: host, port: Int(m.hostPort)).get()
            }
            var b = DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(UDPRelay(target: target)) }
                }
            if v6only { b = b.channelOption(.socket(SocketOptionLevel(IPPROTO_IPV6), SocketOptionName(IPV6_V6ONLY)), value: 1) }
            return try await b.bind(host: host, port: Int(m.hostPort)).get()
        } catch {
            let shown = host.contains(":") ? "[\(host)]" : host
            throw BerthError.system("Error starting userland proxy: listen \(m.proto)\(family) \(shown):\(m.hostPort): bind: \(Self.reason(error))")
        }
    }

    static func reason(_ error: any Error) -> String {
        if let e = error as? IOError, e.errnoCode == EADDRINUSE { return "address already in use" }
        return "\(error)"
    }
}

/// Two channels' pipelines joined: what one reads the other writes, reading pauses while the
/// other side cannot take more, and a half-close or close passes across.
final class Glue: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny
    private var partner: Glue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair() -> (Glue, Glue) {
        let a = Glue(), b = Glue()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { context.read() }
    }
    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil; partner = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.context?.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }
    func channelInactive(context: ChannelHandlerContext) { partner?.context?.close(promise: nil) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, case .inputClosed = e { partner?.context?.close(mode: .output, promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let p = partner, p.pendingRead {
            p.pendingRead = false
            p.context?.read()
        }
    }
    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false { context.read() } else { pendingRead = true }
    }
}

/// UDP: each client address gets a flow of its own (a socket connected to the container), so
/// answers go back to the client that asked; idle flows are closed.
final class UDPRelay: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let target: SocketAddress
    private var flows: [SocketAddress: (channel: any Channel, used: NIODeadline)] = [:]
    init(target: SocketAddress) { self.target = target }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = unwrapInboundIn(data)
        let client = env.remoteAddress
        if var flow = flows[client] {
            flow.used = .now()
            flows[client] = flow
            flow.channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: env.data), promise: nil)
            return
        }
        if flows.count >= UserlandProxy.maxFlows, let oldest = flows.min(by: { $0.value.used < $1.value.used }) {
            flows[oldest.key] = nil
            oldest.value.channel.close(promise: nil)
        }
        let listener = context.channel
        let loop = context.eventLoop
        let target = self.target
        let connect = DatagramBootstrap(group: loop)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: UserlandProxy.udpIdle))
                    try ch.pipeline.syncOperations.addHandler(UDPFlow(listener: listener, client: client, target: target))
                }
            }
            .bind(host: target.protocol == .inet6 ? "::" : "0.0.0.0", port: 0)
        let payload = env.data
        connect.assumeIsolated().whenSuccess { ch in
            self.flows[client] = (ch, .now())
            ch.closeFuture.assumeIsolated().whenComplete { _ in
                if self.flows[client]?.channel === ch { self.flows[client] = nil }
            }
            ch.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: payload), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for f in flows.values { f.channel.close(promise: nil) }
        flows = [:]
    }
}

/// One client's flow: what the container answers goes back to that client.
final class UDPFlow: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let listener: any Channel
    let client: SocketAddress
    let target: SocketAddress
    init(listener: any Channel, client: SocketAddress, target: SocketAddress) { self.listener = listener; self.client = client; self.target = target }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = unwrapInboundIn(data)
        // Only the container's answers (the flow's port is not a way in for anyone else).
        guard env.remoteAddress == target else { return }
        listener.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: env.data), promise: nil)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
    }
}
