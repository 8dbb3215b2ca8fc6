/// A member of a `RoundRobin`: it carries its own links, so it sits in one ring at a time.
protocol RoundRobinMember: AnyObject {
    /// The member before this one in its ring.
    var previousInRing: Self? { get set }
    /// The member after this one in its ring.
    var nextInRing: Self? { get set }
    /// Whether this member is in a ring.
    var isInRing: Bool { get set }
}

/// Members taking turns, in a doubly linked list through the members themselves: adding at the
/// back, moving the front to the back and removing any member are O(1). Members link to each
/// other while they are in the ring; removing one clears its links.
struct RoundRobin<Member: RoundRobinMember> {
    /// The member whose turn is next.
    private(set) var front: Member?
    private var back: Member?

    /// Whether no member is in the ring.
    var isEmpty: Bool { front == nil }

    /// Adds `member` (not in any ring) at the back.
    mutating func append(_ member: Member) {
        precondition(!member.isInRing, "a member sits in one ring at a time")
        member.isInRing = true
        member.previousInRing = back
        member.nextInRing = nil
        if let back { back.nextInRing = member } else { front = member }
        back = member
    }

    /// Removes `member`, which is in this ring.
    mutating func remove(_ member: Member) {
        if let previous = member.previousInRing { previous.nextInRing = member.nextInRing } else { front = member.nextInRing }
        if let next = member.nextInRing { next.previousInRing = member.previousInRing } else { back = member.previousInRing }
        member.previousInRing = nil
        member.nextInRing = nil
        member.isInRing = false
    }

    /// Moves the front member to the back: the next member's turn.
    mutating func rotate() {
        guard let first = front, first !== back else { return }
        remove(first)
        append(first)
    }
}
