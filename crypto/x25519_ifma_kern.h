/*
 * x25519_ifma_kern.h - the lane-sliced X25519 kernel of crypto/x25519_ifma.c,
 * written once for a vector width and included twice by x25519_ifma.c: 8
 * lanes in zmm registers and 4 lanes in ymm registers (AVX-512VL), each
 * function named with the width (ladder_8, ladder_4, ...). On cores that
 * run a zmm IFMA instruction as two ymm halves (AMD Zen 4) a 4-lane run
 * costs about half an 8-lane one (`make bench-x25519`), so one or two
 * handshakes (two or four lanes) use it. Not a public header:
 * x25519_ifma.c defines XK_W, XK_VEC, XK_TGT, XK_FN and the XK_* operations
 * before including it.
 */
#define XT __attribute__((target(XK_TGT), always_inline)) static inline
#define XF __attribute__((target(XK_TGT), noinline)) static
#define vec XK_VEC
#define add XK_FN(add)
#define sr51 XK_FN(sr51)
#define mask51 XK_FN(mask51)
#define mul19 XK_FN(mul19)
#define fe_carry XK_FN(fe_carry)
#define fe_reduce XK_FN(fe_reduce)
#define fe_mul XK_FN(fe_mul)
#define fe_sq XK_FN(fe_sq)
#define fe_mul_small XK_FN(fe_mul_small)
#define fe_add XK_FN(fe_add)
#define fe_sub XK_FN(fe_sub)
#define fe_cswap XK_FN(fe_cswap)
#define fe_sqn XK_FN(fe_sqn)
#define fe_invert XK_FN(fe_invert)
#define fe_freeze XK_FN(fe_freeze)
#define ladder XK_FN(ladder)
#define fe XK_FN(fe)
#define ge_p3 XK_FN(ge_p3)
#define ge_pre XK_FN(ge_pre)
#define ge_select XK_FN(ge_select)
#define ge_madd XK_FN(ge_madd)
#define ge_dbl XK_FN(ge_dbl)
#define base XK_FN(base)

typedef struct {
	vec v[5];
} fe;

XT vec add(vec a, vec b)
{
	return XK_ADD(a, b);
}

XT vec sr51(vec a)
{
	return XK_SRLI(a, 51);
}

XT vec mask51(vec a)
{
	return XK_AND(a, XK_SET1(M51));
}

/* 19 * x by shifts (x below 2^59) */
XT vec mul19(vec x)
{
	return add(add(XK_SLLI(x, 4), XK_SLLI(x, 1)), x);
}

/*
 * Limbs below 2^62 into limbs below 2^51, except limb 1 at most 2^51: one
 * carry chain, the carry out of limb 4 folded into limb 0 times 19.
 */
XT void fe_carry(fe *r, vec c0, vec c1, vec c2, vec c3, vec c4)
{
	c1 = add(c1, sr51(c0));
	c0 = mask51(c0);
	c2 = add(c2, sr51(c1));
	c1 = mask51(c1);
	c3 = add(c3, sr51(c2));
	c2 = mask51(c2);
	c4 = add(c4, sr51(c3));
	c3 = mask51(c3);
	c0 = add(c0, mul19(sr51(c4)));
	c4 = mask51(c4);
	c1 = add(c1, sr51(c0));
	c0 = mask51(c0);
	r->v[0] = c0;
	r->v[1] = c1;
	r->v[2] = c2;
	r->v[3] = c3;
	r->v[4] = c4;
}

/* product terms: column k gets the low half, column k+1 the high half */
#define LO(k, x, y) lo##k = XK_LO(lo##k, x, y)
#define HI(k, x, y) hi##k = XK_HI(hi##k, x, y)
#define P(i, j, k, k1) LO(k, a##i, b##j); HI(k1, a##i, b##j)

/*
 * Columns 0..9 (lo: low halves; hi: high halves, counted one column up and
 * doubled) into a reduced element: column k = lo + 2*hi below 2^57, columns
 * 5..9 folded times 19 (below 2^62), then the carry chain.
 */
XT void fe_reduce(fe *r, vec lo0, vec lo1, vec lo2, vec lo3, vec lo4, vec lo5, vec lo6,
		  vec lo7, vec lo8, vec hi1, vec hi2, vec hi3, vec hi4, vec hi5, vec hi6,
		  vec hi7, vec hi8, vec hi9)
{
#define COL(lo, hi) add(lo, XK_SLLI(hi, 1))
	vec c5 = COL(lo5, hi5), c6 = COL(lo6, hi6), c7 = COL(lo7, hi7), c8 = COL(lo8, hi8);
	vec c9 = XK_SLLI(hi9, 1);

	fe_carry(r, add(lo0, mul19(c5)), add(COL(lo1, hi1), mul19(c6)),
		 add(COL(lo2, hi2), mul19(c7)), add(COL(lo3, hi3), mul19(c8)),
		 add(COL(lo4, hi4), mul19(c9)));
#undef COL
}

/* r = a * b; r may alias a or b. */
XT void fe_mul(fe *r, const fe *a, const fe *b)
{
	const vec z = XK_ZERO();
	const vec a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
	const vec b0 = b->v[0], b1 = b->v[1], b2 = b->v[2], b3 = b->v[3], b4 = b->v[4];
	vec lo0 = z, lo1 = z, lo2 = z, lo3 = z, lo4 = z, lo5 = z, lo6 = z, lo7 = z, lo8 = z;
	vec hi1 = z, hi2 = z, hi3 = z, hi4 = z, hi5 = z, hi6 = z, hi7 = z, hi8 = z, hi9 = z;

	P(0, 0, 0, 1);
	P(0, 1, 1, 2); P(1, 0, 1, 2);
	P(0, 2, 2, 3); P(1, 1, 2, 3); P(2, 0, 2, 3);
	P(0, 3, 3, 4); P(1, 2, 3, 4); P(2, 1, 3, 4); P(3, 0, 3, 4);
	P(0, 4, 4, 5); P(1, 3, 4, 5); P(2, 2, 4, 5); P(3, 1, 4, 5); P(4, 0, 4, 5);
	P(1, 4, 5, 6); P(2, 3, 5, 6); P(3, 2, 5, 6); P(4, 1, 5, 6);
	P(2, 4, 6, 7); P(3, 3, 6, 7); P(4, 2, 6, 7);
	P(3, 4, 7, 8); P(4, 3, 7, 8);
	P(4, 4, 8, 9);
	fe_reduce(r, lo0, lo1, lo2, lo3, lo4, lo5, lo6, lo7, lo8,
		  hi1, hi2, hi3, hi4, hi5, hi6, hi7, hi8, hi9);
}

/*
 * r = a^2: the ten cross products once, their columns doubled before the
 * five squares are added (15 products instead of 25).
 */
XT void fe_sq(fe *r, const fe *a)
{
	const vec z = XK_ZERO();
	const vec a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
	const vec b0 = a0, b1 = a1, b2 = a2, b3 = a3, b4 = a4;
	vec lo0 = z, lo1 = z, lo2 = z, lo3 = z, lo4 = z, lo5 = z, lo6 = z, lo7 = z, lo8 = z;
	vec hi1 = z, hi2 = z, hi3 = z, hi4 = z, hi5 = z, hi6 = z, hi7 = z, hi8 = z, hi9 = z;

	P(0, 1, 1, 2);
	P(0, 2, 2, 3);
	P(0, 3, 3, 4); P(1, 2, 3, 4);
	P(0, 4, 4, 5); P(1, 3, 4, 5);
	P(1, 4, 5, 6); P(2, 3, 5, 6);
	P(2, 4, 6, 7);
	P(3, 4, 7, 8);
#define DBL(x) x = XK_SLLI(x, 1)
	DBL(lo1); DBL(lo2); DBL(lo3); DBL(lo4); DBL(lo5); DBL(lo6); DBL(lo7);
	DBL(hi2); DBL(hi3); DBL(hi4); DBL(hi5); DBL(hi6); DBL(hi7); DBL(hi8);
#undef DBL
	P(0, 0, 0, 1);
	P(1, 1, 2, 3);
	P(2, 2, 4, 5);
	P(3, 3, 6, 7);
	P(4, 4, 8, 9);
	fe_reduce(r, lo0, lo1, lo2, lo3, lo4, lo5, lo6, lo7, lo8,
		  hi1, hi2, hi3, hi4, hi5, hi6, hi7, hi8, hi9);
}
#undef P
#undef LO
#undef HI

/* r = a * k for a small constant k (below 2^52) */
XT void fe_mul_small(fe *r, const fe *a, long long k)
{
	const vec z = XK_ZERO(), kk = XK_SET1(k);
	vec lo[5], hi[5];

	for (unsigned i = 0; i < 5; i++) {
		lo[i] = XK_LO(z, a->v[i], kk);
		hi[i] = XK_SLLI(XK_HI(z, a->v[i], kk), 1);
	}
	fe_carry(r, add(lo[0], mul19(hi[4])), add(lo[1], hi[0]), add(lo[2], hi[1]),
		 add(lo[3], hi[2]), add(lo[4], hi[3]));
}

XT void fe_add(fe *r, const fe *a, const fe *b)
{
	fe_carry(r, add(a->v[0], b->v[0]), add(a->v[1], b->v[1]), add(a->v[2], b->v[2]),
		 add(a->v[3], b->v[3]), add(a->v[4], b->v[4]));
}

/* r = a - b + 2p (b's limbs at most 2^51 + 1, below 2p's) */
XT void fe_sub(fe *r, const fe *a, const fe *b)
{
	const vec p0 = XK_SET1((1ll << 52) - 38), pi = XK_SET1((1ll << 52) - 2);

	fe_carry(r, XK_SUB(add(a->v[0], p0), b->v[0]),
		 XK_SUB(add(a->v[1], pi), b->v[1]),
		 XK_SUB(add(a->v[2], pi), b->v[2]),
		 XK_SUB(add(a->v[3], pi), b->v[3]),
		 XK_SUB(add(a->v[4], pi), b->v[4]));
}

/* Swap a and b in the lanes where mask is all ones. */
XT void fe_cswap(fe *a, fe *b, vec mask)
{
	for (unsigned i = 0; i < 5; i++) {
		vec t = XK_AND(XK_XOR(a->v[i], b->v[i]), mask);

		a->v[i] = XK_XOR(a->v[i], t);
		b->v[i] = XK_XOR(b->v[i], t);
	}
}

XF void fe_sqn(fe *r, const fe *a, unsigned n)
{
	fe_sq(r, a);
	while (--n)
		fe_sq(r, r);
}

/* r = z^(p-2) = z^-1 (z = 0 gives 0), the chain of RFC 7748's reference */
XF void fe_invert(fe *r, const fe *z)
{
	fe z2, z9, z11, z2_5_0, z2_10_0, z2_20_0, z2_50_0, z2_100_0, t;

	fe_sq(&z2, z);                  /* 2 */
	fe_sqn(&t, &z2, 2);             /* 8 */
	fe_mul(&z9, &t, z);             /* 9 */
	fe_mul(&z11, &z9, &z2);         /* 11 */
	fe_sq(&t, &z11);                /* 22 */
	fe_mul(&z2_5_0, &t, &z9);       /* 2^5 - 1 */
	fe_sqn(&t, &z2_5_0, 5);
	fe_mul(&z2_10_0, &t, &z2_5_0);  /* 2^10 - 1 */
	fe_sqn(&t, &z2_10_0, 10);
	fe_mul(&z2_20_0, &t, &z2_10_0); /* 2^20 - 1 */
	fe_sqn(&t, &z2_20_0, 20);
	fe_mul(&t, &t, &z2_20_0);       /* 2^40 - 1 */
	fe_sqn(&t, &t, 10);
	fe_mul(&z2_50_0, &t, &z2_10_0); /* 2^50 - 1 */
	fe_sqn(&t, &z2_50_0, 50);
	fe_mul(&z2_100_0, &t, &z2_50_0); /* 2^100 - 1 */
	fe_sqn(&t, &z2_100_0, 100);
	fe_mul(&t, &t, &z2_100_0);      /* 2^200 - 1 */
	fe_sqn(&t, &t, 50);
	fe_mul(&t, &t, &z2_50_0);       /* 2^250 - 1 */
	fe_sqn(&t, &t, 5);              /* 2^255 - 2^5 */
	fe_mul(r, &t, &z11);            /* 2^255 - 21 = p - 2 */
}

/*
 * The canonical value (below p) of a product's limbs (below 2^51, limb 1 at
 * most 2^51, so the value is below 2p): q = 1 when v + 19 reaches 2^255,
 * then v + 19q with bit 255 dropped is v - qp.
 */
XT void fe_freeze(fe *r)
{
	vec q = sr51(add(r->v[0], XK_SET1(19)));

	for (unsigned i = 1; i < 5; i++)
		q = sr51(add(r->v[i], q));
	r->v[0] = add(r->v[0], mul19(q));
	for (unsigned i = 0; i < 4; i++) {
		r->v[i + 1] = add(r->v[i + 1], sr51(r->v[i]));
		r->v[i] = mask51(r->v[i]);
	}
	r->v[4] = mask51(r->v[4]);
}

/* The ladder of RFC 7748 section 5 over every lane; u and k as loaded. */
XF void ladder(uint64_t out[5][X25519_IFMA_LANES], uint64_t u[5][X25519_IFMA_LANES],
	       uint64_t k[4][X25519_IFMA_LANES])
{
	const vec one = XK_SET1(1), z = XK_ZERO();
	fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
	vec kw[4], swap = z;

	for (unsigned i = 0; i < 5; i++) {
		x1.v[i] = XK_LOAD(u[i]);
		x3.v[i] = x1.v[i];
		x2.v[i] = z2.v[i] = z3.v[i] = z;
	}
	x2.v[0] = z3.v[0] = one;
	for (unsigned i = 0; i < 4; i++)
		kw[i] = XK_LOAD(k[i]);
	for (int bit = 254; bit >= 0; bit--) {
		vec kt = XK_AND(XK_SRL(kw[bit >> 6], _mm_cvtsi32_si128(bit & 63)), one);
		vec m;

		swap = XK_XOR(swap, kt);
		m = XK_SUB(z, swap);
		fe_cswap(&x2, &x3, m);
		fe_cswap(&z2, &z3, m);
		swap = kt;
		fe_add(&a, &x2, &z2);
		fe_sq(&aa, &a);
		fe_sub(&b, &x2, &z2);
		fe_sq(&bb, &b);
		fe_sub(&e, &aa, &bb);
		fe_add(&c, &x3, &z3);
		fe_sub(&d, &x3, &z3);
		fe_mul(&da, &d, &a);
		fe_mul(&cb, &c, &b);
		fe_add(&t, &da, &cb);
		fe_sq(&x3, &t);
		fe_sub(&t, &da, &cb);
		fe_sq(&t, &t);
		fe_mul(&z3, &x1, &t);
		fe_mul(&x2, &aa, &bb);
		fe_mul_small(&t, &e, 121665);
		fe_add(&t, &aa, &t);
		fe_mul(&z2, &e, &t);
	}
	{
		vec m = XK_SUB(z, swap);

		fe_cswap(&x2, &x3, m);
		fe_cswap(&z2, &z3, m);
	}
	fe_invert(&t, &z2);
	fe_mul(&x2, &x2, &t);
	fe_freeze(&x2);
	for (unsigned i = 0; i < 5; i++)
		XK_STORE(out[i], x2.v[i]);
}

/*
 * The fixed-base path (x25519_ifma_base): [k]B on the twisted Edwards curve
 * -x^2 + y^2 = 1 + d x^2 y^2 that Curve25519 is birationally equal to, then
 * u = (1 + y) / (1 - y). Points are extended coordinates (X:Y:Z:T), x = X/Z,
 * y = Y/Z, xy = T/Z; the table's are affine in the form (y+x, y-x, 2dxy)
 * that a mixed addition wants (3 products instead of 4 or more).
 */
typedef struct {
	fe X, Y, Z, T;
} ge_p3;

typedef struct {
	fe ypx, ymx, xy2d;
} ge_pre;

/*
 * t = e * tab[|e| - 1] (the neutral (1, 1, 0) for e = 0), e a lane's digit
 * in [-8, 8]. Every entry of the row is read, the same for every lane, and
 * blended in under the lanes' mask for |e| = j: the addresses depend only on
 * the row. -P is (y-x, y+x, -2dxy): a swap and a negation under the mask of
 * the negative lanes.
 */
XT void ge_select(ge_pre *t, const struct x25519_pre row[8], vec e)
{
	const vec z = XK_ZERO(), a = XK_ABS(e);
	const XK_MASK neg = XK_CMPLT(e, z);
	const fe zero = { { z, z, z, z, z } };
	fe nxy;

	for (unsigned l = 0; l < 5; l++)
		t->ypx.v[l] = t->ymx.v[l] = t->xy2d.v[l] = z;
	t->ypx.v[0] = t->ymx.v[0] = XK_SET1(1);
	for (unsigned j = 0; j < 8; j++) {
		const XK_MASK m = XK_CMPEQ(a, XK_SET1(j + 1));

		for (unsigned l = 0; l < 5; l++) {
			t->ypx.v[l] = XK_BLEND(m, t->ypx.v[l], XK_SET1(row[j].ypx[l]));
			t->ymx.v[l] = XK_BLEND(m, t->ymx.v[l], XK_SET1(row[j].ymx[l]));
			t->xy2d.v[l] = XK_BLEND(m, t->xy2d.v[l], XK_SET1(row[j].xy2d[l]));
		}
	}
	fe_sub(&nxy, &zero, &t->xy2d);
	for (unsigned l = 0; l < 5; l++) {
		const vec p = t->ypx.v[l], m = t->ymx.v[l];

		t->ypx.v[l] = XK_BLEND(neg, p, m);
		t->ymx.v[l] = XK_BLEND(neg, m, p);
		t->xy2d.v[l] = XK_BLEND(neg, t->xy2d.v[l], nxy.v[l]);
	}
}

/*
 * h += t (mixed addition, the "madd-2008-hwcd-3" formulas with k = 2d folded
 * into the table): 7 products. Complete on this curve (d is not a square),
 * so h = t, h = -t and the neutral element need no special case.
 */
XT void ge_madd(ge_p3 *h, const ge_pre *t)
{
	fe a, b, c, d, e, f, g, hh;

	fe_add(&a, &h->Y, &h->X);
	fe_sub(&b, &h->Y, &h->X);
	fe_mul(&a, &a, &t->ypx);        /* (Y+X)(y+x) */
	fe_mul(&b, &b, &t->ymx);        /* (Y-X)(y-x) */
	fe_mul(&c, &t->xy2d, &h->T);    /* 2d xy T */
	fe_add(&d, &h->Z, &h->Z);       /* 2Z */
	fe_sub(&e, &a, &b);
	fe_add(&hh, &a, &b);
	fe_add(&g, &d, &c);
	fe_sub(&f, &d, &c);
	fe_mul(&h->X, &e, &f);
	fe_mul(&h->Y, &g, &hh);
	fe_mul(&h->Z, &f, &g);
	fe_mul(&h->T, &e, &hh);
}

/*
 * h = 2h ("dbl-2008-hwcd"; T is not read): 4 squarings and 3 products, a
 * 4th product for T only when the next step is an addition (with_t).
 */
XT void ge_dbl(ge_p3 *h, int with_t)
{
	fe a, b, c, e, f, g, hh;

	fe_sq(&a, &h->X);
	fe_sq(&b, &h->Y);
	fe_sq(&c, &h->Z);
	fe_add(&c, &c, &c);             /* 2Z^2 */
	fe_add(&e, &h->X, &h->Y);
	fe_sq(&e, &e);                  /* (X+Y)^2 */
	fe_add(&hh, &b, &a);            /* Y^2 + X^2 */
	fe_sub(&g, &b, &a);             /* Y^2 - X^2 */
	fe_sub(&e, &e, &hh);            /* 2XY */
	fe_sub(&f, &c, &g);
	fe_mul(&h->X, &e, &f);
	fe_mul(&h->Y, &g, &hh);
	fe_mul(&h->Z, &f, &g);
	if (with_t)
		fe_mul(&h->T, &e, &hh);
}

/*
 * [k]B for each lane's digits e (k = sum e[i] 16^i, e[i] in [-8, 8]), as
 * u-coordinates, canonical: the odd digits' multiples summed, times 16, then
 * the even digits' (row i of tab holds j 256^i B). 64 additions and 4
 * doublings instead of the ladder's 255 steps.
 */
XF void base(uint64_t out[5][X25519_IFMA_LANES], const int64_t e[64][X25519_IFMA_LANES],
	     const struct x25519_pre tab[32][8])
{
	const vec z = XK_ZERO();
	ge_p3 h;
	ge_pre t;
	fe num, den;

	for (unsigned l = 0; l < 5; l++)
		h.X.v[l] = h.Y.v[l] = h.Z.v[l] = h.T.v[l] = z;
	h.Y.v[0] = h.Z.v[0] = XK_SET1(1);
	for (unsigned i = 1; i < 64; i += 2) {
		ge_select(&t, tab[i / 2], XK_LOAD(e[i]));
		ge_madd(&h, &t);
	}
	for (unsigned i = 0; i < 4; i++)
		ge_dbl(&h, i == 3);
	for (unsigned i = 0; i < 64; i += 2) {
		ge_select(&t, tab[i / 2], XK_LOAD(e[i]));
		ge_madd(&h, &t);
	}
	/* u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y) */
	fe_add(&num, &h.Z, &h.Y);
	fe_sub(&den, &h.Z, &h.Y);
	fe_invert(&den, &den);
	fe_mul(&num, &num, &den);
	fe_freeze(&num);
	for (unsigned i = 0; i < 5; i++)
		XK_STORE(out[i], num.v[i]);
}

#undef add
#undef sr51
#undef mask51
#undef mul19
#undef fe_carry
#undef fe_reduce
#undef fe_mul
#undef fe_sq
#undef fe_mul_small
#undef fe_add
#undef fe_sub
#undef fe_cswap
#undef fe_sqn
#undef fe_invert
#undef fe_freeze
#undef ladder
#undef fe
#undef ge_p3
#undef ge_pre
#undef ge_select
#undef ge_madd
#undef ge_dbl
#undef base
#undef vec
#undef XT
#undef XF
