import BerthAPI
import BerthSystem
import Testing

@Suite struct DetachKeysTests {
    @Test func defaultSequenceDetaches() {
        var k = DetachKeys.dockerDefault
        #expect(k.sequence == [0x10, 0x11])
        let r = k.feed(Array("ab".utf8) + [0x10, 0x11] + Array("zz".utf8))
        #expect(r.forward == Array("ab".utf8) && r.detached)
    }

    @Test func partialSequenceIsHeldThenReleased() {
        var k = DetachKeys.dockerDefault
        let a = k.feed([0x10])
        #expect(a.forward.isEmpty && !a.detached)
        let b = k.feed(Array("x".utf8))
        #expect(b.forward == [0x10, UInt8(ascii: "x")] && !b.detached)
        let c = k.feed([0x10, 0x10, 0x11])
        #expect(c.forward == [0x10] && c.detached)
    }

    @Test func customSpecs() throws {
        #expect(try DetachKeys(spec: "ctrl-a,x").sequence == [1, UInt8(ascii: "x")])
        #expect(try DetachKeys(spec: "ctrl-@,ctrl-[").sequence == [0, 27])
        #expect(throws: BerthError.self) { try DetachKeys(spec: "ctrl-1") }
        #expect(throws: BerthError.self) { try DetachKeys(spec: "abc") }
    }
}
