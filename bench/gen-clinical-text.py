#!/usr/bin/env python3
"""Write N megabytes (default 10) of mixed clinical text to stdout, deterministically (fixed seed),
for tokenizer speed measurements (bench/tokenize.md).

The text mixes what health workers type: English notes with vitals, doses and units, French,
Spanish, Portuguese, Swahili, Hindi, Arabic, Chinese and Amharic sentences, lists, tables of
lab values, punctuation, emoji, runs of spaces and blank lines.

usage: python3 bench/gen-clinical-text.py [MB] > clinical-10mb.txt
"""
import random
import sys

SENTENCES = [
    "Patient is a {age}-year-old {sex} presenting with {sym} for {d} days.",
    "Vitals: T {t:.1f} °C, HR {hr} bpm, RR {rr}/min, BP {sys}/{dia} mmHg, SpO2 {spo2}% on room air.",
    "Chest X-ray: {cxr}. No pneumothorax.",
    "Plan: amoxicillin {dose} mg PO TID × {d} days; paracetamol 15 mg/kg q6h PRN; review in 48 h.",
    "Danger signs: unable to drink, convulsions, lethargy — refer urgently to the district hospital.",
    "HbA1c {a1c:.1f}%; eGFR {egfr} mL/min/1.73m²; Na⁺ {na} mmol/L; K⁺ {k:.1f} mmol/L.",
    "MUAC {muac} mm (red zone <115 mm), weight-for-height z-score {z:.1f}.",
    "Le patient présente une toux productive et une fièvre à {t:.1f} °C depuis {d} jours.",
    "Paciente con dolor torácico opresivo, diaforesis y disnea; ECG con elevación del ST en V1–V4.",
    "Gestante de {wk} semanas com cefaleia, edema e PA {sys}/{dia} mmHg: suspeita de pré-eclâmpsia.",
    "Mtoto ana homa kali, kikohozi na kupumua kwa haraka kwa siku {d}.",
    "मरीज़ को {d} दिनों से बुखार और खांसी है, ऑक्सीजन संतृप्ति {spo2}% है।",
    "يعاني المريض من ضيق في التنفس وحمى منذ {d} أيام.",
    "患者发热{d}天，咳嗽，呼吸急促，血氧饱和度{spo2}%。",
    "ታካሚው ለ{d} ቀናት ትኩሳት እና ሳል አለበት።",
    "Wound on the left foot, 3.5 cm × 2 cm, purulent discharge 🩹; diabetic, on metformin 500 mg BID.",
    "Rapid diagnostic test for malaria: positive (P. falciparum). Start artemether–lumefantrine.",
    "Differential diagnosis: community-acquired pneumonia, tuberculosis, pulmonary embolism, heart failure.",
]
SYM = ["fever and cough", "shortness of breath", "chest pain", "headache and neck stiffness",
       "diarrhoea and vomiting", "abdominal pain", "productive cough and night sweats", "rash"]
CXR = ["consolidation in the right lower lobe", "bilateral interstitial infiltrates",
       "cardiomegaly with small pleural effusions", "cavitation in the left upper lobe", "clear lung fields"]


def sentence(r):
    s = r.choice(SENTENCES)
    return s.format(age=r.randint(1, 90), sex=r.choice(["man", "woman", "boy", "girl"]), sym=r.choice(SYM),
                    d=r.randint(1, 14), t=r.uniform(35.5, 41.0), hr=r.randint(50, 180), rr=r.randint(12, 70),
                    sys=r.randint(80, 190), dia=r.randint(40, 120), spo2=r.randint(78, 100), cxr=r.choice(CXR),
                    dose=r.choice([250, 500, 875, 1000]), a1c=r.uniform(4.5, 13.0), egfr=r.randint(8, 120),
                    na=r.randint(120, 155), k=r.uniform(2.5, 6.5), muac=r.randint(95, 150), z=r.uniform(-4, 1),
                    wk=r.randint(20, 41))


def paragraph(r):
    kind = r.random()
    if kind < 0.1:
        rows = ["| test | value | unit |", "|---|---|---|"]
        for _ in range(r.randint(2, 6)):
            rows.append("| %s | %.1f | %s |" % (r.choice(["Hb", "WBC", "CRP", "glucose", "creatinine"]),
                                                r.uniform(0.1, 300), r.choice(["g/dL", "10^9/L", "mg/L", "mmol/L", "µmol/L"])))
        return "\n".join(rows)
    if kind < 0.2:
        return "\n".join("- " + sentence(r) for _ in range(r.randint(2, 5)))
    text = " ".join(sentence(r) for _ in range(r.randint(2, 8)))
    if r.random() < 0.1:
        text = text.replace(" ", "  ", 3)
    return text


def main():
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    target = int(mb * 1000 * 1000)
    r = random.Random(20260524)
    out = []
    size = 0
    while size < target:
        p = paragraph(r) + r.choice(["\n\n", "\n", "\n\n\n"])
        out.append(p)
        size += len(p.encode("utf-8"))
    data = "".join(out).encode("utf-8")[:target]
    # do not end inside a UTF-8 sequence
    while data and (data[-1] & 0xC0) == 0x80:
        data = data[:-1]
    if data and data[-1] >= 0xC0:
        data = data[:-1]
    sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()
