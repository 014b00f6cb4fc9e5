import BerthSystem
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Docker's embedded resolver: sockets at 127.0.0.11:53 (UDP and TCP) in each container's
/// network namespace, served from the process that holds them (the resolver process, see
/// `ResolverDaemon`). Names of containers on the asker's networks are answered from `names`;
/// everything else is relayed to the host's resolvers or the container's own.
public final class EmbeddedDNS: Sendable {
    /// Where names come from: addresses of a name, and the name of an address (PTR), for the
    /// container asking.
    public struct Names: Sendable {
        /// IPv4 and IPv6 addresses, as text.
        public var addresses: @Sendable (_ containerID: String, _ name: String) -> [String]
        public var name: @Sendable (_ containerID: String, _ address: String) -> String?
        public init(addresses: @escaping @Sendable (String, String) -> [String],
                    name: @escaping @Sendable (String, String) -> String? = { _, _ in nil }) {
            self.addresses = addresses; self.name = name
        }
    }
    let names: Names
    let upstreams: [SocketAddress]
    let group: any EventLoopGroup
    /// Each served container: its sockets' channels, and its own resolvers (`--dns`) if it has any.
    struct Served { let channels: [any Channel]; let upstreams: [SocketAddress] }
    let served = NIOLockedValueBox<[String: Served]>([:])
    /// Open TCP connections per container (a container cannot hold more than `maxConnections`).
    let connections = NIOLockedValueBox<[String: Int]>([:])
    static let maxConnections = 16
    let relay: Relay
    let log = Log.logger("dns")

    /// `port`: the upstream resolvers' port (53; tests run their own).
    public init(upstreams: [String], port: Int = 53, names: Names,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.names = names
        self.group = group
        self.upstreams = upstreams.compactMap { try? SocketAddress(ipAddress: $0, port: port) }
        relay = Relay(group: group)
    }

    /// The host's resolvers from a resolv.conf text.
    public static func nameservers(_ resolvConf: String) -> [String] {
        resolvConf.split(separator: "\n").compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0] == "nameserver" else { return nil }
            return String(f[1])
        }
    }

    /// Serves the container's queries on already bound sockets (taken over): a datagram one,
    /// and a listening stream one if given.
    public func serve(containerID: String, udp: Int32, tcp: Int32? = nil, upstreams: [String] = []) async throws {
        let own = upstreams.compactMap { try? SocketAddress(ipAddress: $0, port: 53) }
        let handler = QueryHandler(containerID: containerID, dns: self)
        var channels: [any Channel] = []
        do {
            channels.append(try await DatagramBootstrap(group: group)
                .channelInitializer { ch in ch.pipeline.addHandler(handler) }
                .withBoundSocket(udp).get())
            if let tcp {
                channels.append(try await ServerBootstrap(group: group)
                    .childChannelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture {
                            try ch.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(10)))
                            try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(StreamFrameDecoder()))
                            try ch.pipeline.syncOperations.addHandler(StreamQueryHandler(containerID: containerID, dns: self))
                        }
                    }
                    .withBoundSocket(tcp).get())
            }
        } catch {
            for ch in channels { _ = try? await ch.close().get() }
            throw error
        }
        let old = served.withLockedValue { s in s.updateValue(Served(channels: channels, upstreams: own), forKey: containerID) }
        for ch in old?.channels ?? [] { _ = try? await ch.close().get() }
    }

    public func isServing(_ containerID: String) -> Bool { served.withLockedValue { $0[containerID] != nil } }
    public var servedIDs: [String] { served.withLockedValue { Array($0.keys) } }

    public func stop(containerID: String) async {
        let old = served.withLockedValue { $0.removeValue(forKey: containerID) }
        for ch in old?.channels ?? [] { _ = try? await ch.close().get() }
    }

    func answer(containerID: String, request: [UInt8], reply: @escaping @Sendable ([UInt8]) -> Void) {
        guard let q = DNSQuery(request) else { return }
        if q.qclass == 1 && (q.type == DNSQuery.typeA || q.type == DNSQuery.typeAAAA) {
            let local = names.addresses(containerID, q.name)
            if !local.isEmpty {
                // A name we know: its addresses of the family asked for (none: an empty answer).
                reply(q.type == DNSQuery.typeA ? q.answer(request, addresses: local.compactMap { IPv4($0) })
                                               : q.answer(request, addresses6: local.compactMap { IPv6($0) }))
                return
            }
        }
        if q.qclass == 1, let address = q.reverseAddress, let name = names.name(containerID, address) {
            reply(q.answer(request, pointer: name))
            return
        }
        let own = served.withLockedValue { $0[containerID]?.upstreams } ?? []
        let targets = own.isEmpty ? upstreams : own
        guard !targets.isEmpty else { reply(q.answer(request, addresses: [], rcode: 2)); return }
        relay.forward(request, to: targets, reply: reply) { reply(q.answer(request, addresses: [], rcode: 2)) }
    }

    final class QueryHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let containerID: String
        let dns: EmbeddedDNS
        init(containerID: String, dns: EmbeddedDNS) { self.containerID = containerID; self.dns = dns }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let env = unwrapInboundIn(data)
            let request = Array(env.data.readableBytesView)
            let channel = context.channel
            let remote = env.remoteAddress
            dns.answer(containerID: containerID, request: request) { bytes in
                let buf = channel.allocator.buffer(bytes: bytes)
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buf), promise: nil)
            }
        }
    }

    /// DNS over TCP: each message after its two-byte length (RFC 1035 4.2.2).
    struct StreamFrameDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer
        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let len = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
                  buffer.readableBytes >= 2 + Int(len) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 2)
            context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(len))!))
            return .continue
        }
    }

    final class StreamQueryHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let containerID: String
        let dns: EmbeddedDNS
        init(containerID: String, dns: EmbeddedDNS) { self.containerID = containerID; self.dns = dns }

        func channelActive(context: ChannelHandlerContext) {
            let n = dns.connections.withLockedValue { c in c[containerID, default: 0] += 1; return c[containerID]! }
            if n > EmbeddedDNS.maxConnections { context.close(promise: nil) }
            context.fireChannelActive()
        }
        func channelInactive(context: ChannelHandlerContext) {
            dns.connections.withLockedValue { c in
                c[containerID, default: 1] -= 1
                if c[containerID]! <= 0 { c[containerID] = nil }
            }
            context.fireChannelInactive()
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = Array(unwrapInboundIn(data).readableBytesView)
            let channel = context.channel
            dns.answer(containerID: containerID, request: request) { bytes in
                var buf = channel.allocator.buffer(capacity: bytes.count + 2)
                buf.writeInteger(UInt16(truncatingIfNeeded: bytes.count))
                buf.writeBytes(bytes)
                channel.writeAndFlush(buf, promise: nil)
            }
        }
    }

    /// Relays queries to the upstream resolvers over one socket of berthd's own, with fresh ids
    /// (the asker's id is put back in the answer); a query without an answer in 5 s fails.
    final class Relay: Sendable {
        struct Pending {
            let originalID: UInt16
            /// The server asked: an answer from any other address is not taken (a container can
            /// reach this socket through the gateway and could otherwise guess ids and forge answers).
            let server: SocketAddress
            let reply: @Sendable ([UInt8]) -> Void
            let fail: @Sendable () -> Void
            let deadline: NIODeadline
        }
        let state = NIOLockedValueBox<(next: UInt16, pending: [UInt16: Pending], channel: (any Channel)?)>((1, [:], nil))
        let group: any EventLoopGroup
        init(group: any EventLoopGroup) { self.group = group }

        func channel() async throws -> any Channel {
            if let ch = state.withLockedValue({ $0.channel }) { return ch }
            let ch = try await DatagramBootstrap(group: group)
                .channelInitializer { ch in ch.pipeline.addHandler(AnswerHandler(relay: self)) }
                .bind(host: "0.0.0.0", port: 0).get()
            let kept = state.withLockedValue { s -> (any Channel)? in
                if let existing = s.channel { return existing }
                s.channel = ch
                return nil
            }
            if let kept { _ = try? await ch.close().get(); return kept }
            return ch
        }

        func forward(_ request: [UInt8], to upstreams: [SocketAddress], reply: @escaping @Sendable ([UInt8]) -> Void,
                     fail: @escaping @Sendable () -> Void) {
            guard let server = upstreams.first else { fail(); return }
            let originalID = UInt16(request[0]) << 8 | UInt16(request[1])
            let now = NIODeadline.now()
            let (newID, expired) = state.withLockedValue { s -> (UInt16?, [Pending]) in
                let gone = s.pending.filter { $0.value.deadline < now }
                for k in gone.keys { s.pending[k] = nil }
                guard s.pending.count < 4096 else { return (nil, Array(gone.values)) }
                var id = s.next
                while s.pending[id] != nil { id &+= 1 }
                s.next = id &+ 1
                s.pending[id] = Pending(originalID: originalID, server: server, reply: reply, fail: fail, deadline: now + .seconds(5))
                return (id, Array(gone.values))
            }
            for e in expired { e.fail() }
            guard let newID else { fail(); return }
            var out = request
            out[0] = UInt8(newID >> 8); out[1] = UInt8(newID & 0xff)
            let bytes = out
            Task {
                do {
                    let ch = try await self.channel()
                    try await ch.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: ch.allocator.buffer(bytes: bytes))).get()
                } catch {
                    if let p = self.state.withLockedValue({ $0.pending.removeValue(forKey: newID) }) { p.fail() }
                }
            }
        }

        func received(_ bytes: [UInt8], from sender: SocketAddress) {
            guard bytes.count >= 12 else { return }
            let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
            let p = state.withLockedValue { s -> Pending? in
                guard let p = s.pending[id], p.server == sender else { return nil }
                return s.pending.removeValue(forKey: id)
            }
            guard let p else { return }
            var out = bytes
            out[0] = UInt8(p.originalID >> 8); out[1] = UInt8(p.originalID & 0xff)
            p.reply(out)
        }
    }

    final class AnswerHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let relay: Relay
        init(relay: Relay) { self.relay = relay }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let env = unwrapInboundIn(data)
            relay.received(Array(env.data.readableBytesView), from: env.remoteAddress)
        }
    }
}
