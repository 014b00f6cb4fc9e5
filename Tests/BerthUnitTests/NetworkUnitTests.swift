import BerthNetwork
import Foundation
import Testing

/// Addresses, pools, IPAM and the DNS codec, without a network.
@Suite struct NetworkUnitTests {
    @Test func addressesAndSubnetsParseStrictly() {
        #expect(IPv4("10.1.2.3")?.description == "10.1.2.3")
        for bad in ["01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.5", "", "a.b.c.d", "1.2.3.-4"] { #expect(IPv4(bad) == nil, "\(bad)") }
        #expect(Subnet("10.1.0.0/16", strict: true)?.last.description == "10.1.255.255")
        #expect(Subnet("10.1.0.5/16", strict: true) == nil)
        #expect(Subnet("10.1.0.5/16")?.description == "10.1.0.0/16")
        #expect(Subnet("10.0.0.0/33") == nil && Subnet("10.0.0.0") == nil)
        #expect(Subnet("10.0.0.0/8")!.overlaps(Subnet("10.9.0.0/16")!))
        #expect(!Subnet("10.0.0.0/16")!.overlaps(Subnet("10.1.0.0/16")!))
    }

    @Test func ipv6AddressesAndSubnets() {
        #expect(IPv6("FD00:0:0::0002")?.description == "fd00::2")
        for bad in ["1.2.3.4", "fd00::g", "fd00:::1", "", "fe80::1%eth0", "::ffff:1.2.3.4.5"] { #expect(IPv6(bad) == nil, "\(bad)") }
        #expect(IPv6("fd00::ffff:ffff:ffff:ffff")!.adding(1) == IPv6("fd00:0:0:1::"))
        let s = Subnet6("fd00:5a::/64", strict: true)!
        #expect(s.firstHost.description == "fd00:5a::1" && s.contains(IPv6("fd00:5a::ffff")!) && !s.contains(IPv6("fd00:5b::1")!))
        #expect(Subnet6("fd00:5a::1/64", strict: true) == nil && Subnet6("fd00:5a::1/64")?.description == "fd00:5a::/64")
        #expect(Subnet6("fd00::/129") == nil && Subnet6("10.0.0.0/8") == nil)
        #expect(Subnet6("fd00::/8")!.overlaps(s) && !Subnet6("fd01::/16")!.overlaps(s))
        #expect(s.pick(gateway: s.firstHost, used: ["fd00:5a::2", "fd00:5a::3"])?.description == "fd00:5a::4")
        let ula = Subnet6.randomULA()
        #expect(ula.prefix == 64 && ula.base.hi >> 56 == 0xfd && ula.base.lo == 0)
    }

    @Test func poolsSkipWhatIsTaken() {
        let pools = AddressPools.dockerDefault
        #expect(AddressPools.choose(from: pools, avoiding: [])?.description == "172.17.0.0/16")
        #expect(AddressPools.choose(from: pools, avoiding: [Subnet("172.17.0.0/16")!])?.description == "172.18.0.0/16")
        #expect(AddressPools.choose(from: pools, avoiding: [Subnet("172.16.0.0/12")!])?.description == "192.168.0.0/20")
        // A route covering everything ends the search at once instead of trying 2^30 subnets.
        let all = AddressPools.parse("base=0.0.0.0/0,size=30")!
        #expect(AddressPools.choose(from: [all], avoiding: [Subnet("0.0.0.0/0")!]) == nil)
        #expect(AddressPools.parse("base=10.10.0.0/16,size=24")?.size == 24)
        #expect(AddressPools.parse("base=10.10.0.0/16,size=8") == nil)
    }

    @Test func hostRoutesAreRead() {
        let text = """
        Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
        docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        """
        #expect(AddressPools.hostRoutes(text).map(\.description) == ["172.17.0.0/16", "192.0.2.0/24"])
        #expect(AddressPools.hostRoutes(text, excluding: ["docker0"]).map(\.description) == ["192.0.2.0/24"])
    }

    @Test func ipamPicksTheFirstFreeAddress() {
        let s = Subnet("10.0.0.0/29")!
        #expect(IPAM.pick(subnet: s, range: nil, gateway: IPv4("10.0.0.1"), used: [])?.description == "10.0.0.2")
        #expect(IPAM.pick(subnet: s, range: nil, gateway: IPv4("10.0.0.1"), used: ["10.0.0.2", "10.0.0.3"])?.description == "10.0.0.4")
        let full: Set<String> = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        #expect(IPAM.pick(subnet: s, range: nil, gateway: IPv4("10.0.0.1"), used: full) == nil)   // .7 is broadcast
        #expect(IPAM.pick(subnet: Subnet("10.0.0.0/24")!, range: Subnet("10.0.0.128/25"), gateway: IPv4("10.0.0.1"), used: [])?.description == "10.0.0.128")
        #expect(IPAM.mac(for: IPv4("172.18.0.2")!) == "02:42:ac:12:00:02")
    }

    static func query(_ name: String, type: UInt16 = 1, flags: UInt16 = 0x0100) -> [UInt8] {
        var b: [UInt8] = [0xab, 0xcd, UInt8(flags >> 8), UInt8(flags & 0xff), 0, 1, 0, 0, 0, 0, 0, 0]
        for l in name.split(separator: ".") { b.append(UInt8(l.utf8.count)); b += Array(l.utf8) }
        return b + [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
    }

    @Test func dnsQueriesAndAnswers() throws {
        let req = Self.query("My-Web.Example")
        let q = try #require(DNSQuery(req))
        #expect(q.name == "my-web.example" && q.type == 1 && q.id == 0xabcd && q.questionEnd == req.count)
        let a = q.answer(req, addresses: [IPv4("10.0.0.2")!])
        #expect(Array(a.prefix(2)) == [0xab, 0xcd])
        #expect(a[2] & 0x80 != 0 && a[3] & 0x0f == 0)                  // a response, NOERROR
        #expect(a[7] == 1 && Array(a.suffix(4)) == [10, 0, 0, 2])      // one A record
        let nx = q.answer(req, addresses: [], rcode: 3)
        #expect(nx[3] & 0x0f == 3 && nx.count == req.count)
        // Refused: compression in a question, a response, a cut question, a 64-byte label.
        #expect(DNSQuery([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]) == nil)
        #expect(DNSQuery(Self.query("web", flags: 0x8180)) == nil)
        #expect(DNSQuery(Array(req.prefix(req.count - 2))) == nil)
        #expect(DNSQuery(Self.query(String(repeating: "a", count: 64))) == nil)
    }

    @Test func resolvConfNameservers() {
        #expect(EmbeddedDNS.nameservers("search x\nnameserver 10.0.0.53\nnameserver\t1.1.1.1\n#nameserver 9.9.9.9\n") == ["10.0.0.53", "1.1.1.1"])
    }
}
