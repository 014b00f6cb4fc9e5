import BerthSystem
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Docker's embedded resolver: one UDP socket at 127.0.0.11:53 in each container's network
/// namespace, served by berthd from its own. Names of containers on the asker's networks are
/// answered from `lookup`; everything else is relayed to the host's resolvers.
public final class EmbeddedDNS: Sendable {
    public typealias Lookup = @Sendable (_ containerID: String, _ name: String) -> [IPv4]?
    let lookup: Lookup
    let upstreams: [SocketAddress]
    let group: any EventLoopGroup
    /// Each served container: its socket's channel, and its own resolvers (`--dns`) if it has any.
    struct Served { let channel: any Channel; let upstreams: [SocketAddress] }
    let served = NIOLockedValueBox<[String: Served]>([:])
    let relay: Relay
    let log = Log.logger("dns")

    /// `port`: the upstream resolvers' port (53; tests run their own).
    public init(upstreams: [String], port: Int = 53, lookup: @escaping Lookup,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.lookup = lookup
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

    /// Serves the container's queries on an already bound datagram socket (taken over).
    public func serve(containerID: String, socket fd: Int32, upstreams: [String] = []) async throws {
        let own = upstreams.compactMap { try? SocketAddress(ipAddress: $0, port: 53) }
        let handler = QueryHandler(containerID: containerID, dns: self)
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { ch in ch.pipeline.addHandler(handler) }
            .withBoundSocket(fd).get()
        let old = served.withLockedValue { s in s.updateValue(Served(channel: channel, upstreams: own), forKey: containerID) }
        _ = try? await old?.channel.close().get()
    }

    public func isServing(_ containerID: String) -> Bool { served.withLockedValue { $0[containerID] != nil } }

    public func stop(containerID: String) async {
        let old = served.withLockedValue { $0.removeValue(forKey: containerID) }
        _ = try? await old?.channel.close().get()
    }

    func answer(containerID: String, request: [UInt8], reply: @escaping @Sendable ([UInt8]) -> Void) {
        guard let q = DNSQuery(request) else { return }
        let local: [IPv4]? = (q.qclass == 1 && (q.type == DNSQuery.typeA || q.type == DNSQuery.typeAAAA))
            ? lookup(containerID, q.name) : nil
        if let local, !local.isEmpty {
            // A name we know: its addresses (no IPv6 ones yet: AAAA is answered empty).
            reply(q.answer(request, addresses: q.type == DNSQuery.typeA ? local : []))
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
