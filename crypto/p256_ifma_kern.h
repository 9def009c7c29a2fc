/*
 * p256_ifma_kern.h - the lane-sliced ECDSA P-256 kernel of
 * crypto/p256_ifma.c, written once for a vector width and included twice by
 * p256_ifma.c: 8 lanes in zmm registers and 4 lanes in ymm registers
 * (AVX-512VL), each function named with the width (sign_8, sign_4, ...).
 * Not a public header: p256_ifma.c defines PK_W, PK_VEC, PK_TGT, PK_FN, the
 * PK_* operations and struct p256c before including it. sign() signs;
 * vscalars() and vpoint() are the two halves of verification (the host
 * recodes u1 and u2 in between).
 *
 * Every value is five limbs below 2^52 (IFMA reads 52 bits of its inputs)
 * and, between operations, below twice its modulus m (p or n): Montgomery
 * products keep that bound without a final subtraction (mont), sums and
 * differences restore it by one conditional subtraction of 2m. Only r and
 * s are reduced below m, at the end.
 */
#define XT __attribute__((target(PK_TGT), always_inline)) static inline
#define XF __attribute__((target(PK_TGT), noinline)) static
#define vec PK_VEC
#define fe PK_FN(fe)
#define normalize PK_FN(normalize)
#define condsub PK_FN(condsub)
#define mont PK_FN(mont)
#define mul_p PK_FN(mul_p)
#define sq_p PK_FN(sq_p)
#define mul_n PK_FN(mul_n)
#define madd PK_FN(madd)
#define msub PK_FN(msub)
#define sq_pn PK_FN(sq_pn)
#define mul_pn PK_FN(mul_pn)
#define inv_pn PK_FN(inv_pn)
#define fe_load PK_FN(fe_load)
#define fe_store PK_FN(fe_store)
#define fe_set PK_FN(fe_set)
#define pt_madd PK_FN(pt_madd)
#define pair_p PK_FN(pair_p)
#define trio_p PK_FN(trio_p)
#define tab_read PK_FN(tab_read)
#define lane_read PK_FN(lane_read)
#define acc_add PK_FN(acc_add)
#define fe_eq PK_FN(fe_eq)
#define sign PK_FN(sign)
#define vscalars PK_FN(vscalars)
#define vpoint PK_FN(vpoint)

typedef struct {
	vec v[5];
} fe;

XT void fe_load(fe *r, const uint64_t l[5][P256_IFMA_LANES])
{
	for (unsigned i = 0; i < 5; i++)
		r->v[i] = PK_LOAD(l[i]);
}

XT void fe_store(uint64_t l[5][P256_IFMA_LANES], const fe *a)
{
	for (unsigned i = 0; i < 5; i++)
		PK_STORE(l[i], a->v[i]);
}

/* every lane the constant c (public limbs) */
XT void fe_set(fe *r, const uint64_t c[5])
{
	for (unsigned i = 0; i < 5; i++)
		r->v[i] = PK_SET1((long long)c[i]);
}

/*
 * Limbs as signed 64-bit column sums into limbs below 2^52 by one carry
 * chain (arithmetic shifts, so a column may be negative); what is left
 * above limb 4 stays in limb 4, whose sign then tells a negative value.
 */
XT void normalize(fe *r)
{
	const vec mask = PK_SET1(M52);

	for (unsigned i = 0; i < 4; i++) {
		r->v[i + 1] = PK_ADD(r->v[i + 1], PK_SRAI(r->v[i], 52));
		r->v[i] = PK_AND(r->v[i], mask);
	}
}

/*
 * r = a - m if that is not negative, else a; a normalized, 0 <= a < 2m, so
 * r < m (m here p, n, 2p or 2n: 2m < 2^258 leaves limb 4 its sign). The
 * choice is a lane mask (the borrow's sign), not a branch.
 */
XT void condsub(fe *r, const fe *a, const uint64_t m[5])
{
	fe d;
	vec neg;

	for (unsigned i = 0; i < 5; i++)
		d.v[i] = PK_SUB(a->v[i], PK_SET1((long long)m[i]));
	normalize(&d);
	neg = PK_SRAI(d.v[4], 63);
	for (unsigned i = 0; i < 5; i++)
		r->v[i] = PK_XOR(d.v[i], PK_AND(PK_XOR(d.v[i], a->v[i]), neg));
}

/*
 * r = a * b / R mod m, R = 2^260 (a * a when sq), Montgomery with
 * n0 = -m^-1 mod 2^52; r may alias a or b. m is one of the constant
 * moduli, so once inlined the reduction mod p uses p's form (limbs
 * 2^52 - 1, 2^44 - 1, 0, 2^36, 2^48 - 2^16; n0 = 1): two of its five
 * products become shifts and one is 0.
 *
 * First the product's ten columns (product scanning: the 25 or 15 IFMA
 * pairs are independent), then five reduction steps, each adding q*m at
 * column i and carrying column i (now 0 mod 2^52) into column i+1: only
 * that step-to-step chain is serial. Bounds: a, b < m < 2^256, limbs below
 * 2^52. A column gets at most 5 low and 5 high halves of the product (20
 * when squaring doubles them) and 5 of each from q*m, each below 2^52,
 * plus a carry: below 2^58. With a, b < 2m the sum (a*b + Q*m)/R, Q < R,
 * is below 4m*m/R + m < 2m (4m < 2^258 < R): the output keeps the input
 * bound with no subtraction, and after the carry chain limb 4 is below
 * 2^49.
 */
XT void mont(fe *r, const fe *a, const fe *b, int sq, const uint64_t m[5], uint64_t n0)
{
	const vec z = PK_ZERO();
	vec t[10];
	fe u;

#pragma GCC unroll 10
	for (unsigned k = 0; k < 10; k++)
		t[k] = z;
	if (sq) {
#pragma GCC unroll 5
		for (unsigned i = 0; i < 5; i++)
#pragma GCC unroll 5
			for (unsigned j = i + 1; j < 5; j++) {
				t[i + j] = PK_LO(t[i + j], a->v[i], a->v[j]);
				t[i + j + 1] = PK_HI(t[i + j + 1], a->v[i], a->v[j]);
			}
#pragma GCC unroll 10
		for (unsigned k = 1; k < 9; k++)
			t[k] = PK_ADD(t[k], t[k]);
#pragma GCC unroll 5
		for (unsigned i = 0; i < 5; i++) {
			t[2 * i] = PK_LO(t[2 * i], a->v[i], a->v[i]);
			t[2 * i + 1] = PK_HI(t[2 * i + 1], a->v[i], a->v[i]);
		}
	} else {
#pragma GCC unroll 5
		for (unsigned i = 0; i < 5; i++)
#pragma GCC unroll 5
			for (unsigned j = 0; j < 5; j++) {
				t[i + j] = PK_LO(t[i + j], a->v[i], b->v[j]);
				t[i + j + 1] = PK_HI(t[i + j + 1], a->v[i], b->v[j]);
			}
	}
#pragma GCC unroll 5
	for (unsigned i = 0; i < 5; i++) {
		if (n0 == 1) {
			/*
			 * p: q = t_i mod 2^52 (n0 = 1). Limb 0 of p is 2^52 - 1,
			 * and t_i + q (2^52 - 1) = ((t_i >> 52) + q) 2^52: column
			 * i+1 gets (t_i >> 52) + q, with no product. Limb 2 is 0;
			 * limb 3 is 2^36: q 2^36 is (q << 36) mod 2^52 in column
			 * i+3 and q >> 16 in column i+4.
			 */
			vec q = PK_AND(t[i], PK_SET1(M52));

			t[i + 1] = PK_ADD(t[i + 1], PK_ADD(PK_SRLI(t[i], 52), q));
			t[i + 1] = PK_LO(t[i + 1], q, PK_SET1((long long)m[1]));
			t[i + 2] = PK_HI(t[i + 2], q, PK_SET1((long long)m[1]));
			t[i + 3] = PK_ADD(t[i + 3], PK_AND(PK_SLLI(q, 36), PK_SET1(M52)));
			t[i + 4] = PK_ADD(t[i + 4], PK_SRLI(q, 16));
			t[i + 4] = PK_LO(t[i + 4], q, PK_SET1((long long)m[4]));
			t[i + 5] = PK_HI(t[i + 5], q, PK_SET1((long long)m[4]));
		} else {
			/* q = t_i * n0 mod 2^52: t_i + q*m is 0 mod 2^52 */
			vec q = PK_LO(z, t[i], PK_SET1((long long)n0));

#pragma GCC unroll 5
			for (unsigned j = 0; j < 5; j++) {
				t[i + j] = PK_LO(t[i + j], q, PK_SET1((long long)m[j]));
				t[i + j + 1] = PK_HI(t[i + j + 1], q, PK_SET1((long long)m[j]));
			}
			t[i + 1] = PK_ADD(t[i + 1], PK_SRLI(t[i], 52));
		}
	}
#pragma GCC unroll 5
	for (unsigned i = 0; i < 5; i++)
		u.v[i] = t[i + 5];
	normalize(&u);
	*r = u;
}

XF void mul_p(fe *r, const fe *a, const fe *b)
{
	mont(r, a, b, 0, P256_P, 1);
}

XF void sq_p(fe *r, const fe *a)
{
	mont(r, a, a, 1, P256_P, 1);
}

XF void mul_n(fe *r, const fe *a, const fe *b)
{
	mont(r, a, b, 0, P256_N, P256_N0);
}

/* r = a + b mod m, below 2m (a, b < 2m; m2 = 2m) */
XT void madd(fe *r, const fe *a, const fe *b, const uint64_t m2[5])
{
	fe t;

	for (unsigned i = 0; i < 5; i++)
		t.v[i] = PK_ADD(a->v[i], b->v[i]);
	normalize(&t);
	condsub(r, &t, m2);
}

/* r = a - b mod m, below 2m (a, b < 2m; m2 = 2m): a - b + 2m is in (0, 4m) */
XT void msub(fe *r, const fe *a, const fe *b, const uint64_t m2[5])
{
	fe t;

	for (unsigned i = 0; i < 5; i++)
		t.v[i] = PK_ADD(PK_SUB(a->v[i], b->v[i]), PK_SET1((long long)m2[i]));
	normalize(&t);
	condsub(r, &t, m2);
}

/* a = a^2 mod p and b = b^2 mod n side by side: two independent chains */
XF void sq_pn(fe *a, fe *b)
{
	mont(a, a, a, 1, P256_P, 1);
	mont(b, b, b, 1, P256_N, P256_N0);
}

XF void mul_pn(fe *a, const fe *x, fe *b, const fe *y)
{
	mont(a, a, x, 0, P256_P, 1);
	mont(b, b, y, 0, P256_N, P256_N0);
}

/*
 * ra = a^(p-2) mod p and rb = b^(n-2) mod n (Fermat: the inverses, in
 * Montgomery form for Montgomery-form inputs), computed side by side: each
 * is a chain of dependent products whose latency, not the vector units,
 * sets the pace, so the two chains interleaved cost little more than one.
 * Fixed 4-bit windows over the public exponents ep and en (64 digits, most
 * significant first), the tables indexed by those public digits only.
 */
XF void inv_pn(fe *ra, const fe *a, const uint8_t ep[64], fe *rb, const fe *b, const uint8_t en[64])
{
	fe ta[16], tb[16], x, y;

	ta[1] = *a;
	tb[1] = *b;
	for (unsigned i = 2; i < 16; i++) {
		ta[i] = ta[i - 1];
		tb[i] = tb[i - 1];
		mul_pn(&ta[i], a, &tb[i], b);
	}
	x = ta[ep[0]];          /* the top digit of p-2 and n-2 is 0xf, not 0 */
	y = tb[en[0]];
	for (unsigned w = 1; w < 64; w++) {
		for (unsigned s = 0; s < 4; s++)
			sq_pn(&x, &y);
		if (ep[w] && en[w])
			mul_pn(&x, &ta[ep[w]], &y, &tb[en[w]]);
		else if (ep[w])
			mul_p(&x, &x, &ta[ep[w]]);
		else if (en[w])
			mul_n(&y, &y, &tb[en[w]]);
	}
	*ra = x;
	*rb = y;
	OPENSSL_cleanse(ta, sizeof(ta));
	OPENSSL_cleanse(tb, sizeof(tb));
}

/*
 * Independent products mod p in one function: the out-of-order core runs
 * their reduction chains side by side (the outputs are written last, so an
 * output may alias only its own inputs).
 */
XF void pair_p(fe *r1, const fe *a1, const fe *b1, fe *r2, const fe *a2, const fe *b2)
{
	mont(r1, a1, b1, 0, P256_P, 1);
	mont(r2, a2, b2, 0, P256_P, 1);
}

/* r1 = a1 * b1, r2 = a2^2, r3 = a3 * b3 mod p */
XF void trio_p(fe *r1, const fe *a1, const fe *b1, fe *r2, const fe *a2, fe *r3, const fe *a3,
	       const fe *b3)
{
	mont(r1, a1, b1, 0, P256_P, 1);
	mont(r2, a2, a2, 1, P256_P, 1);
	mont(r3, a3, b3, 0, P256_P, 1);
}

/*
 * (X3, Y3, Z3) = (X1, Y1, Z1) + (x2, y2), Jacobian plus affine, mod p in
 * Montgomery form (8M + 3S):
 *   U2 = x2 Z1^2, S2 = y2 Z1^3, H = U2 - X1, R = S2 - Y1,
 *   X3 = R^2 - H^3 - 2 X1 H^2, Y3 = R (X1 H^2 - X3) - Y1 H^3, Z3 = Z1 H.
 * Wrong for P1 at infinity or P1 = +-P2: the caller selects around the
 * first and the digits exclude the second (p256_ifma.c).
 */
XF void pt_madd(fe *x3, fe *y3, fe *z3, const fe *x1, const fe *y1, const fe *z1,
		const fe *x2, const fe *y2)
{
	fe zz, u2, s2, h, rr, hh, hhh, v, t;

	sq_p(&zz, z1);
	pair_p(&u2, x2, &zz, &s2, z1, &zz);
	msub(&h, &u2, x1, P256_P2);
	trio_p(&s2, y2, &s2, &hh, &h, z3, z1, &h);
	msub(&rr, &s2, y1, P256_P2);
	trio_p(&hhh, &h, &hh, &t, &rr, &v, x1, &hh);
	msub(&t, &t, &hhh, P256_P2);
	msub(&t, &t, &v, P256_P2);
	msub(x3, &t, &v, P256_P2);
	msub(&t, &v, x3, P256_P2);
	pair_p(&t, &rr, &t, &hhh, y1, &hhh);
	msub(y3, &t, &hhh, P256_P2);
}

/*
 * The entry of |digit| in one window of a table shared by all lanes (G's):
 * all 16 entries read, each kept only where it matches (x2, y2 = 0 for
 * digit 0). dv holds the digits as recode() makes them.
 */
XT void tab_read(fe *x2, fe *y2, const uint64_t t[16][2][5], vec dv)
{
	vec dig = PK_AND(dv, PK_SET1(31));

	for (unsigned i = 0; i < 5; i++)
		x2->v[i] = y2->v[i] = PK_ZERO();
	for (unsigned j = 1; j <= 16; j++) {
		__mmask8 hit = PK_CMPEQ(dig, PK_SET1((long long)j));

		for (unsigned i = 0; i < 5; i++) {
			x2->v[i] = PK_MASKMOV(x2->v[i], hit, PK_SET1((long long)t[j - 1][0][i]));
			y2->v[i] = PK_MASKMOV(y2->v[i], hit, PK_SET1((long long)t[j - 1][1][i]));
		}
	}
}

/*
 * The entry of |digit| in window w of each lane's own table (a public key's:
 * verification, public data, so read directly by the digit; for digit 0
 * entry 1, which acc_add then ignores). dg: the window's digits, one a lane.
 */
XT void lane_read(fe *x2, fe *y2, const uint64_t (*const t[P256_IFMA_LANES])[16][2][5], unsigned w,
		  const uint64_t dg[P256_IFMA_LANES])
{
	uint64_t lx[5][P256_IFMA_LANES], ly[5][P256_IFMA_LANES];

	for (unsigned lane = 0; lane < PK_W; lane++) {
		unsigned d = (unsigned)(dg[lane] & 31);
		const uint64_t (*e)[5] = t[lane][w][d ? d - 1 : 0];

		for (unsigned i = 0; i < 5; i++) {
			lx[i][lane] = e[0][i];
			ly[i][lane] = e[1][i];
		}
	}
	fe_load(x2, (const uint64_t (*)[P256_IFMA_LANES])lx);
	fe_load(y2, (const uint64_t (*)[P256_IFMA_LANES])ly);
}

/*
 * One window of a sum of table points: (x, y, z) += (x2, +-y2) with the
 * sign and size of the digit in dv (recode(): |digit| in bits 0..4, the
 * sign in bit 8). Digit 0: the accumulator is kept; a lane at infinity
 * (inf) takes the entry itself (Z = 1, one: R mod p) and leaves infinity;
 * else the mixed sum (pt_madd, wrong when the accumulator is +-the entry:
 * then H = 0 and Z3 = Z1 H = 0 mod p, and since every later Z3 is a
 * multiple of Z1, Z stays 0 mod p to the end).
 */
XT void acc_add(fe *x, fe *y, fe *z, __mmask8 *inf, fe *x2, fe *y2, vec dv, const fe *one)
{
	fe x3, y3, z3, t, zero;
	vec dig = PK_AND(dv, PK_SET1(31));
	__mmask8 nz = PK_CMPNE(dig, PK_ZERO()), add, first;
	__mmask8 neg = PK_CMPNE(PK_AND(dv, PK_SET1(256)), PK_ZERO());

	/* a negative digit: the entry's negative, (x, -y) */
	for (unsigned i = 0; i < 5; i++)
		zero.v[i] = PK_ZERO();
	msub(&t, &zero, y2, P256_P2);
	for (unsigned i = 0; i < 5; i++)
		y2->v[i] = PK_MASKMOV(y2->v[i], neg, t.v[i]);
	pt_madd(&x3, &y3, &z3, x, y, z, x2, y2);
	add = nz & (__mmask8)~*inf;
	first = nz & *inf;
	for (unsigned i = 0; i < 5; i++) {
		x->v[i] = PK_MASKMOV(PK_MASKMOV(x->v[i], add, x3.v[i]), first, x2->v[i]);
		y->v[i] = PK_MASKMOV(PK_MASKMOV(y->v[i], add, y3.v[i]), first, y2->v[i]);
		z->v[i] = PK_MASKMOV(PK_MASKMOV(z->v[i], add, z3.v[i]), first, one->v[i]);
	}
	*inf &= (__mmask8)~nz;
}

/* the lanes where a == b, both reduced below p (five limbs equal) */
XT __mmask8 fe_eq(const fe *a, const fe *b)
{
	__mmask8 eq = (__mmask8)0xff;

	for (unsigned i = 0; i < 5; i++)
		eq &= PK_CMPEQ(a->v[i], b->v[i]);
	return eq;
}

/*
 * Every lane's signature: dg the nonce's signed digits (p256_ifma.c
 * recode: |digit| in bits 0..4, the sign in bit 8), kl the nonce,
 * el the digest, dl the private scalar (each as five 52-bit limbs, plain,
 * k and d below n, e below 2^256 < 2n); out r and s, plain, below n.
 */
XF void sign(uint64_t r_out[5][P256_IFMA_LANES], uint64_t s_out[5][P256_IFMA_LANES],
	     const uint64_t dg[P256_NW][P256_IFMA_LANES], const uint64_t kl[5][P256_IFMA_LANES],
	     const uint64_t el[5][P256_IFMA_LANES], const uint64_t dl[5][P256_IFMA_LANES],
	     const struct p256c *c)
{
	fe x, y, z, x2, y2, one, t, r, s, k, e, d;
	__mmask8 inf = (__mmask8)0xff;

	fe_set(&one, c->rp);
	x = y = z = one;        /* any value: the lanes at infinity are masked */
	for (unsigned w = 0; w < P256_NW; w++) {
		vec dv = PK_LOAD(dg[w]);

		tab_read(&x2, &y2, c->tab[w], dv);
		acc_add(&x, &y, &z, &inf, &x2, &y2, dv, &one);
	}
	/* Z^-1 and k^-1 together */
	fe_load(&k, kl);
	fe_load(&e, el);
	fe_load(&d, dl);
	fe_set(&t, c->r2n);
	mul_n(&k, &k, &t);              /* k R */
	mul_n(&d, &d, &t);              /* d R */
	inv_pn(&t, &z, c->ep, &k, &k, c->en);   /* Z^-1 R mod p, k^-1 R mod n */

	/* x = X / Z^2 out of Montgomery form, below 2p: x mod p < 2n, then r = x mod n */
	sq_p(&t, &t);
	mul_p(&x, &x, &t);
	for (unsigned i = 0; i < 5; i++)
		one.v[i] = PK_SET1(i == 0);
	mul_p(&x, &x, &one);
	condsub(&x, &x, P256_P);
	condsub(&r, &x, P256_N);

	/* s = k^-1 (e + r d) mod n: e < 2^256 < 2n is in range as it is */
	mul_n(&d, &r, &d);              /* r d */
	madd(&s, &e, &d, P256_N2);
	mul_n(&s, &s, &k);              /* k^-1 (e + r d) */
	condsub(&s, &s, P256_N);
	fe_store(r_out, &r);
	fe_store(s_out, &s);
}


/*
 * Verification, first half: u1 = e w and u2 = r w mod n, w = s^-1 mod n,
 * for every lane; sl, el, rl plain limbs (s and r in [1, n-1], e below
 * 2^256 < 2n), out u1 and u2 plain, below n.
 */
XF void vscalars(uint64_t u1_out[5][P256_IFMA_LANES], uint64_t u2_out[5][P256_IFMA_LANES],
		 const uint64_t sl[5][P256_IFMA_LANES], const uint64_t el[5][P256_IFMA_LANES],
		 const uint64_t rl[5][P256_IFMA_LANES], const struct p256c *c)
{
	fe s, e, r, w, t, one;

	fe_load(&s, sl);
	fe_load(&e, el);
	fe_load(&r, rl);
	fe_set(&t, c->r2n);
	mul_n(&s, &s, &t);              /* s R */
	fe_set(&one, c->rp);
	/* w = s^-1 R mod n; the chain mod p beside it inverts 1 and is dropped */
	inv_pn(&t, &one, c->ep, &w, &s, c->en);
	mul_n(&e, &e, &w);              /* e s^-1: out of Montgomery form */
	mul_n(&r, &r, &w);
	condsub(&e, &e, P256_N);
	condsub(&r, &r, P256_N);
	fe_store(u1_out, &e);
	fe_store(u2_out, &r);
}

/*
 * Verification, second half: u1 G + u2 Q as 104 mixed additions, window w
 * adding the digit of u1 from G's table then the digit of u2 from the
 * lane's table of Q (qt), no doublings; dg[0] and dg[1] the digits of u1
 * and u2 (recode()). rl the signature's r and rnl r + n where that is below
 * p, else r again (plain limbs, below p). Returns the lanes where the sum
 * (X, Y, Z) is a point, not infinity, with Z != 0 mod p and x = X / Z^2
 * equal to r or r + n: X == r Z^2 mod p, no inversion.
 *
 * Soundness: an addition is wrong only when the accumulator is +-the entry
 * (the table's entries are never infinity: d 32^w is not 0 mod n), and
 * then it leaves Z = 0 mod p for good (acc_add). So Z != 0 at the end means
 * every addition was right and (X / Z^2, Y / Z^3) is u1 G + u2 Q; a sum
 * that is really infinity without the inf mask (a cancellation) has Z = 0
 * too. Those lanes come out not valid (the caller re-checks them).
 */
XF unsigned vpoint(const uint64_t dg[2][P256_NW][P256_IFMA_LANES],
		   const uint64_t (*const qt[P256_IFMA_LANES])[16][2][5],
		   const uint64_t rl[5][P256_IFMA_LANES], const uint64_t rnl[5][P256_IFMA_LANES],
		   const struct p256c *c)
{
	fe x, y, z, x2, y2, one, zz, u;
	__mmask8 inf = (__mmask8)0xff, ok;
	vec zor;

	fe_set(&one, c->rp);
	x = y = z = one;        /* any value: the lanes at infinity are masked */
	for (unsigned w = 0; w < P256_NW; w++) {
		vec dv = PK_LOAD(dg[0][w]);

		tab_read(&x2, &y2, c->tab[w], dv);
		acc_add(&x, &y, &z, &inf, &x2, &y2, dv, &one);
		dv = PK_LOAD(dg[1][w]);
		lane_read(&x2, &y2, qt, w, dg[1][w]);
		acc_add(&x, &y, &z, &inf, &x2, &y2, dv, &one);
	}
	/*
	 * X and r Z^2 out of Montgomery form, each reduced below p (X / R is at
	 * most p already: (X + Q p) / R < p + 1; the subtraction makes p 0)
	 */
	sq_p(&zz, &z);                  /* Z^2 R */
	for (unsigned i = 0; i < 5; i++)
		one.v[i] = PK_SET1(i == 0);
	mul_p(&x, &x, &one);
	condsub(&x, &x, P256_P);
	fe_load(&u, rl);
	mul_p(&u, &u, &zz);             /* r Z^2 */
	condsub(&u, &u, P256_P);
	ok = fe_eq(&x, &u);
	fe_load(&u, rnl);
	mul_p(&u, &u, &zz);             /* (r + n) Z^2 */
	condsub(&u, &u, P256_P);
	ok |= fe_eq(&x, &u);
	/* Z R below p: 0 exactly when Z = 0 mod p */
	condsub(&z, &z, P256_P);
	zor = PK_ZERO();
	for (unsigned i = 0; i < 5; i++)
		zor = PK_OR(zor, z.v[i]);
	ok &= PK_CMPNE(zor, PK_ZERO());
	/* infinity is no match (not reached: u2 = r/s is not 0, so a digit of u2 is not) */
	ok &= (__mmask8)~inf;
	return ok;
}

#undef fe
#undef normalize
#undef condsub
#undef mont
#undef mul_p
#undef sq_p
#undef mul_n
#undef madd
#undef msub
#undef sq_pn
#undef mul_pn
#undef inv_pn
#undef fe_load
#undef fe_store
#undef fe_set
#undef pt_madd
#undef pair_p
#undef trio_p
#undef tab_read
#undef lane_read
#undef acc_add
#undef fe_eq
#undef sign
#undef vscalars
#undef vpoint
#undef vec
#undef XT
#undef XF
