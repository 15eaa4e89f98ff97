#!/usr/bin/env python3
"""generate.py - writes medge's clinical calibration corpus (data/calibration/*.txt).

The text is original: sentence templates written for medge, filled with values drawn from a
seeded random generator (ages, vital signs, weights, doses computed from the weight, lab values,
imaging findings), so the corpus is reproducible and varied. It covers case vignettes, triage
notes, weight-based drug dosing, radiology and laboratory report language, in English, French,
Spanish, Portuguese, Swahili and Hindi. It is calibration text for importance matrices
(`medge imatrix -f`), not clinical guidance.

    python3 data/calibration/generate.py            # rewrites the .txt files beside this script
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

# Doses used in the dosing lines (standard weight-based regimens, rounded as a clinician would).
def paracetamol_mg(w):
    return int(round(w * 15 / 10.0) * 10)

def amoxicillin_mg(w):
    return int(round(w * 40 / 25.0) * 25)

def ors_ml(w):
    return int(round(w * 75 / 10.0) * 10)

def al_tablets(w):
    if w < 15:
        return 1
    if w < 25:
        return 2
    if w < 35:
        return 3
    return 4

def zinc_mg(age_months):
    return 10 if age_months < 6 else 20

L = {}

L["en"] = dict(
    sex=["man", "woman"], child=["boy", "girl"],
    complaints=["fever", "cough", "shortness of breath", "abdominal pain", "headache", "vomiting", "diarrhoea",
                "chest pain", "a painful swelling of the leg", "a skin rash", "weakness of one side of the body",
                "burning on passing urine", "bleeding in pregnancy", "convulsions", "a productive cough with night sweats"],
    findings=["crackles at the right base", "a stiff neck", "pallor of the palms", "sunken eyes and a slow skin pinch",
              "lower chest wall indrawing", "tenderness in the right lower quadrant", "bilateral pitting oedema of the feet",
              "a blood pressure of {sbp}/{dbp} mmHg", "jaundice of the sclerae", "an enlarged spleen",
              "reduced air entry on the left", "a capillary refill time of 4 seconds", "wheeze on both sides",
              "a tender, warm and red calf"],
    vignette=[
        "A {age}-year-old {sex} presents with {c1} for {d} days. Temperature {t} °C, pulse {hr}/min, respiratory rate {rr}/min, "
        "oxygen saturation {spo2}% on room air. On examination there is {f1}. {plan}",
        "Case: {age}-year-old {sex} with {c1} and {c2} for {d} days. Vital signs: BP {sbp}/{dbp} mmHg, HR {hr}, RR {rr}, "
        "T {t} °C, SpO2 {spo2}%. Examination shows {f1} and {f2}. {plan}",
        "A {months}-month-old {child} is brought by the mother because of {c1} for {d} days. The child weighs {wt} kg. "
        "Respiratory rate {rr} breaths per minute; {f1}. {plan}",
    ],
    plans=["Start treatment according to the national guideline and review in 48 hours.",
           "Refer urgently to the district hospital with a referral note.",
           "Give the first dose in the clinic and explain the danger signs to the family.",
           "Request a full blood count, malaria test and urine dipstick.",
           "Admit for observation, monitor vital signs every four hours.",
           "Counsel on fluids and feeding; return immediately if the child cannot drink."],
    triage=[
        "TRIAGE {time}: {age} y {sexs}, {c1}. RR {rr}, HR {hr}, SpO2 {spo2}%, T {t}. Category: {cat}. {act}",
        "Triage note - arrival {time}. Chief complaint: {c1}. Danger signs: {ds}. Priority {cat}. {act}",
    ],
    cats=["emergency (red)", "priority (yellow)", "non-urgent (green)"],
    acts=["Seen immediately by the clinician.", "Oxygen started, doctor informed.", "Waiting area, reassess in 30 minutes.",
          "Glucose checked at bedside.", "IV access obtained, fluids started."],
    ds=["none", "unable to drink", "lethargic", "convulsing", "severe respiratory distress", "vomiting everything"],
    dosing=[
        "Paracetamol for a child of {wt} kg: {para} mg by mouth every 6 hours if needed, no more than 4 doses in 24 hours.",
        "Amoxicillin for pneumonia, child of {wt} kg: {amox} mg by mouth twice daily for 5 days.",
        "Oral rehydration, plan B, weight {wt} kg: about {ors} mL of ORS over 4 hours, then reassess.",
        "Artemether-lumefantrine for uncomplicated malaria, weight {wt} kg: {al} tablet(s) twice daily for 3 days, with food.",
        "Zinc for a {months}-month-old with diarrhoea: {zinc} mg once daily for 10 to 14 days.",
    ],
    radiology=[
        "CHEST X-RAY (PA): {rad1}. {rad2}. Impression: {imp}.",
        "Ultrasound of the abdomen: {us}. No free fluid. Impression: {imp2}.",
    ],
    rad1=["Consolidation of the right lower lobe with air bronchograms", "The lungs are clear", "Bilateral perihilar infiltrates",
          "Homogeneous opacity of the left lower zone with a meniscus", "Cavitating lesion in the right upper lobe",
          "Diffuse small nodules throughout both lungs"],
    rad2=["The heart size is normal", "Cardiothoracic ratio 0.58", "The costophrenic angles are sharp",
          "No pneumothorax", "The trachea is central"],
    imp=["right lower lobe pneumonia", "no acute abnormality", "left pleural effusion",
         "findings suggestive of pulmonary tuberculosis", "cardiomegaly", "miliary pattern, correlate clinically"],
    us=["The liver measures {liv} cm with normal echotexture", "The spleen is enlarged at {spl} cm",
        "The gallbladder contains several echogenic stones", "Single live intrauterine pregnancy, gestational age {ga} weeks"],
    imp2=["hepatomegaly", "splenomegaly", "cholelithiasis", "normal study", "viable pregnancy"],
    lab=[
        "LAB REPORT: haemoglobin {hb} g/dL (reference 12.0-16.0), white cells {wbc} x10^9/L, platelets {plt} x10^9/L. "
        "Malaria RDT: {rdt}. Random glucose {glu} mmol/L. Creatinine {cr} µmol/L.",
        "Urinalysis: protein {prot}, leucocytes {leu}, nitrites {nit}. Sputum Xpert MTB/RIF: {xpert}.",
    ],
    pos=["positive", "negative"], pm=["negative", "trace", "1+", "2+", "3+"],
    xpert=["MTB not detected", "MTB detected, rifampicin resistance not detected", "MTB detected, rifampicin resistance detected"],
)

L["fr"] = dict(
    sex=["homme", "femme"], child=["garçon", "fille"],
    complaints=["de la fièvre", "une toux", "une difficulté respiratoire", "des douleurs abdominales", "des céphalées",
                "des vomissements", "une diarrhée", "une douleur thoracique", "une éruption cutanée", "des convulsions",
                "des brûlures mictionnelles", "un saignement pendant la grossesse"],
    findings=["des crépitants à la base droite", "une raideur de la nuque", "une pâleur palmaire", "des yeux enfoncés",
              "un tirage sous-costal", "une splénomégalie", "des œdèmes des pieds prenant le godet", "un ictère conjonctival",
              "une tension artérielle de {sbp}/{dbp} mmHg", "des sibilants bilatéraux"],
    vignette=[
        "Un {sex} de {age} ans consulte pour {c1} depuis {d} jours. Température {t} °C, pouls {hr}/min, fréquence respiratoire "
        "{rr}/min, saturation {spo2} %. À l'examen : {f1}. {plan}",
        "Un {child} de {months} mois est amené par sa mère pour {c1} depuis {d} jours. Poids {wt} kg. Fréquence respiratoire "
        "{rr}/min ; {f1}. {plan}",
    ],
    plans=["Traitement selon le protocole national, revoir dans 48 heures.", "Référer en urgence à l'hôpital de district.",
           "Première dose donnée au centre de santé, signes de danger expliqués à la famille.",
           "Demander une numération formule sanguine, un test de paludisme et une bandelette urinaire."],
    triage=["TRIAGE {time} : {age} ans, {c1}. FR {rr}, FC {hr}, SpO2 {spo2} %, T {t}. Catégorie : {cat}. {act}"],
    cats=["urgence (rouge)", "prioritaire (jaune)", "non urgent (vert)"],
    acts=["Vu immédiatement par le clinicien.", "Oxygène débuté, médecin prévenu.", "Salle d'attente, réévaluer dans 30 minutes."],
    ds=["aucun"],
    dosing=[
        "Paracétamol pour un enfant de {wt} kg : {para} mg par voie orale toutes les 6 heures si besoin, au maximum 4 prises par 24 heures.",
        "Amoxicilline pour une pneumonie, enfant de {wt} kg : {amox} mg par voie orale deux fois par jour pendant 5 jours.",
        "Réhydratation orale, plan B, poids {wt} kg : environ {ors} mL de SRO en 4 heures, puis réévaluer.",
        "Artéméther-luméfantrine pour un paludisme simple, poids {wt} kg : {al} comprimé(s) deux fois par jour pendant 3 jours.",
        "Zinc pour un enfant de {months} mois avec diarrhée : {zinc} mg une fois par jour pendant 10 à 14 jours.",
    ],
    radiology=["RADIOGRAPHIE THORACIQUE (face) : {rad1}. {rad2}. Conclusion : {imp}."],
    rad1=["Condensation du lobe inférieur droit avec bronchogramme aérique", "Poumons clairs",
          "Opacité homogène de la base gauche avec ligne de Damoiseau", "Lésion excavée du lobe supérieur droit"],
    rad2=["Silhouette cardiaque normale", "Index cardiothoracique à 0,58", "Culs-de-sac costodiaphragmatiques libres"],
    imp=["pneumonie du lobe inférieur droit", "pas d'anomalie aiguë", "épanchement pleural gauche",
         "aspect évocateur de tuberculose pulmonaire"],
    us=[], imp2=[],
    lab=["BILAN : hémoglobine {hb} g/dL, leucocytes {wbc} x10^9/L, plaquettes {plt} x10^9/L. TDR paludisme : {rdt}. "
         "Glycémie {glu} mmol/L. Créatinine {cr} µmol/L."],
    pos=["positif", "négatif"], pm=["négatif", "traces", "1+", "2+"], xpert=["MTB non détecté"],
)

L["es"] = dict(
    sex=["hombre", "mujer"], child=["niño", "niña"],
    complaints=["fiebre", "tos", "dificultad para respirar", "dolor abdominal", "cefalea", "vómitos", "diarrea",
                "dolor torácico", "una erupción cutánea", "convulsiones", "ardor al orinar", "sangrado durante el embarazo"],
    findings=["crepitantes en la base derecha", "rigidez de nuca", "palidez palmar", "ojos hundidos", "tiraje subcostal",
              "esplenomegalia", "edema con fóvea en ambos pies", "ictericia conjuntival",
              "una presión arterial de {sbp}/{dbp} mmHg", "sibilancias bilaterales"],
    vignette=[
        "Un {sex} de {age} años consulta por {c1} desde hace {d} días. Temperatura {t} °C, pulso {hr}/min, frecuencia "
        "respiratoria {rr}/min, saturación {spo2} %. A la exploración: {f1}. {plan}",
        "Un {child} de {months} meses es traído por su madre por {c1} de {d} días de evolución. Peso {wt} kg. Frecuencia "
        "respiratoria {rr}/min; {f1}. {plan}",
    ],
    plans=["Tratamiento según el protocolo nacional y control en 48 horas.", "Referir con urgencia al hospital.",
           "Se administra la primera dosis en el centro de salud y se explican los signos de alarma a la familia.",
           "Solicitar hemograma, prueba de malaria y tira reactiva de orina."],
    triage=["TRIAJE {time}: {age} años, {c1}. FR {rr}, FC {hr}, SpO2 {spo2} %, T {t}. Categoría: {cat}. {act}"],
    cats=["emergencia (rojo)", "prioritario (amarillo)", "no urgente (verde)"],
    acts=["Atendido de inmediato por el clínico.", "Se inicia oxígeno y se avisa al médico.", "Sala de espera, reevaluar en 30 minutos."],
    ds=["ninguno"],
    dosing=[
        "Paracetamol para un niño de {wt} kg: {para} mg por vía oral cada 6 horas si es necesario, máximo 4 dosis en 24 horas.",
        "Amoxicilina para neumonía, niño de {wt} kg: {amox} mg por vía oral dos veces al día durante 5 días.",
        "Rehidratación oral, plan B, peso {wt} kg: unos {ors} mL de SRO en 4 horas y luego reevaluar.",
        "Arteméter-lumefantrina para malaria no complicada, peso {wt} kg: {al} comprimido(s) dos veces al día durante 3 días.",
        "Zinc para un niño de {months} meses con diarrea: {zinc} mg una vez al día durante 10 a 14 días.",
    ],
    radiology=["RADIOGRAFÍA DE TÓRAX (PA): {rad1}. {rad2}. Impresión: {imp}."],
    rad1=["Consolidación del lóbulo inferior derecho con broncograma aéreo", "Campos pulmonares claros",
          "Opacidad homogénea en la base izquierda con menisco", "Lesión cavitada en el lóbulo superior derecho"],
    rad2=["Silueta cardiaca normal", "Índice cardiotorácico de 0,58", "Senos costofrénicos libres"],
    imp=["neumonía del lóbulo inferior derecho", "sin alteraciones agudas", "derrame pleural izquierdo",
         "hallazgos sugestivos de tuberculosis pulmonar"],
    us=[], imp2=[],
    lab=["LABORATORIO: hemoglobina {hb} g/dL, leucocitos {wbc} x10^9/L, plaquetas {plt} x10^9/L. Prueba rápida de malaria: {rdt}. "
         "Glucemia {glu} mmol/L. Creatinina {cr} µmol/L."],
    pos=["positiva", "negativa"], pm=["negativo", "trazas", "1+", "2+"], xpert=["MTB no detectado"],
)

L["pt"] = dict(
    sex=["homem", "mulher"], child=["menino", "menina"],
    complaints=["febre", "tosse", "falta de ar", "dor abdominal", "cefaleia", "vômitos", "diarreia", "dor no peito",
                "uma erupção na pele", "convulsões", "ardor ao urinar", "sangramento na gravidez"],
    findings=["crepitações na base direita", "rigidez de nuca", "palidez palmar", "olhos encovados", "tiragem subcostal",
              "esplenomegalia", "edema com cacifo nos pés", "icterícia das escleras",
              "uma pressão arterial de {sbp}/{dbp} mmHg", "sibilos bilaterais"],
    vignette=[
        "Um {sex} de {age} anos procura atendimento por {c1} há {d} dias. Temperatura {t} °C, pulso {hr}/min, frequência "
        "respiratória {rr}/min, saturação {spo2} %. Ao exame: {f1}. {plan}",
        "Uma criança ({child}) de {months} meses é trazida pela mãe por {c1} há {d} dias. Peso {wt} kg. Frequência "
        "respiratória {rr}/min; {f1}. {plan}",
    ],
    plans=["Tratar segundo o protocolo nacional e reavaliar em 48 horas.", "Referenciar com urgência para o hospital distrital.",
           "Primeira dose dada na unidade de saúde; sinais de perigo explicados à família.",
           "Pedir hemograma, teste de malária e tira de urina."],
    triage=["TRIAGEM {time}: {age} anos, {c1}. FR {rr}, FC {hr}, SpO2 {spo2} %, T {t}. Categoria: {cat}. {act}"],
    cats=["emergência (vermelho)", "prioritário (amarelo)", "não urgente (verde)"],
    acts=["Observado de imediato pelo clínico.", "Oxigénio iniciado, médico avisado.", "Sala de espera, reavaliar em 30 minutos."],
    ds=["nenhum"],
    dosing=[
        "Paracetamol para uma criança de {wt} kg: {para} mg por via oral a cada 6 horas se necessário, no máximo 4 doses em 24 horas.",
        "Amoxicilina para pneumonia, criança de {wt} kg: {amox} mg por via oral duas vezes ao dia durante 5 dias.",
        "Reidratação oral, plano B, peso {wt} kg: cerca de {ors} mL de SRO em 4 horas, depois reavaliar.",
        "Arteméter-lumefantrina para malária não complicada, peso {wt} kg: {al} comprimido(s) duas vezes ao dia durante 3 dias.",
        "Zinco para uma criança de {months} meses com diarreia: {zinc} mg uma vez ao dia durante 10 a 14 dias.",
    ],
    radiology=["RADIOGRAFIA DO TÓRAX (PA): {rad1}. {rad2}. Conclusão: {imp}."],
    rad1=["Consolidação do lobo inferior direito com broncograma aéreo", "Pulmões sem alterações",
          "Opacidade homogénea da base esquerda com menisco", "Lesão cavitada no lobo superior direito"],
    rad2=["Área cardíaca normal", "Índice cardiotorácico de 0,58", "Seios costofrénicos livres"],
    imp=["pneumonia do lobo inferior direito", "sem alterações agudas", "derrame pleural esquerdo",
         "achados sugestivos de tuberculose pulmonar"],
    us=[], imp2=[],
    lab=["LABORATÓRIO: hemoglobina {hb} g/dL, leucócitos {wbc} x10^9/L, plaquetas {plt} x10^9/L. Teste rápido de malária: {rdt}. "
         "Glicemia {glu} mmol/L. Creatinina {cr} µmol/L."],
    pos=["positivo", "negativo"], pm=["negativo", "vestígios", "1+", "2+"], xpert=["MTB não detetado"],
)

L["sw"] = dict(
    sex=["mwanamume", "mwanamke"], child=["mvulana", "msichana"],
    complaints=["homa", "kikohozi", "kupumua kwa shida", "maumivu ya tumbo", "maumivu ya kichwa", "kutapika", "kuhara",
                "maumivu ya kifua", "upele wa ngozi", "degedege", "kuungua wakati wa kukojoa", "kutokwa damu wakati wa ujauzito"],
    findings=["mlio wa mapafu upande wa kulia chini", "shingo ngumu", "weupe wa viganja", "macho yaliyozama",
              "kifua kuvutwa ndani wakati wa kupumua", "wengu uliovimba", "uvimbe wa miguu yote miwili",
              "shinikizo la damu {sbp}/{dbp} mmHg", "macho ya njano"],
    vignette=[
        "{sex_cap} wa miaka {age} amekuja na {c1} kwa siku {d}. Joto {t} °C, mapigo ya moyo {hr} kwa dakika, kupumua {rr} "
        "kwa dakika, oksijeni {spo2}%. Uchunguzi unaonyesha {f1}. {plan}",
        "Mtoto {child} wa miezi {months} ameletwa na mama yake kwa sababu ya {c1} kwa siku {d}. Uzito kilo {wt}. "
        "Kupumua {rr} kwa dakika; {f1}. {plan}",
    ],
    plans=["Anza matibabu kulingana na mwongozo wa taifa na umwone tena baada ya saa 48.",
           "Mpe rufaa ya haraka kwenda hospitali ya wilaya.",
           "Dozi ya kwanza imetolewa kliniki; familia imeelezwa dalili za hatari.",
           "Pima damu, kipimo cha malaria na mkojo."],
    triage=["UCHAMBUZI saa {time}: miaka {age}, {c1}. Kupumua {rr}, mapigo {hr}, oksijeni {spo2}%, joto {t}. Kundi: {cat}. {act}"],
    cats=["dharura (nyekundu)", "kipaumbele (njano)", "si dharura (kijani)"],
    acts=["Ameonwa na daktari mara moja.", "Oksijeni imeanzishwa, daktari amejulishwa.", "Asubiri, apimwe tena baada ya dakika 30."],
    ds=["hakuna"],
    dosing=[
        "Paracetamol kwa mtoto wa kilo {wt}: miligramu {para} kwa mdomo kila saa 6 ikihitajika, si zaidi ya dozi 4 kwa saa 24.",
        "Amoxicillin kwa nimonia, mtoto wa kilo {wt}: miligramu {amox} kwa mdomo mara mbili kwa siku kwa siku 5.",
        "Kurejesha maji mwilini, mpango B, uzito kilo {wt}: takriban mililita {ors} za ORS kwa saa 4, kisha mpime tena.",
        "Artemether-lumefantrine kwa malaria isiyo kali, uzito kilo {wt}: vidonge {al} mara mbili kwa siku kwa siku 3.",
        "Zinki kwa mtoto wa miezi {months} anayeharisha: miligramu {zinc} mara moja kwa siku kwa siku 10 hadi 14.",
    ],
    radiology=["PICHA YA X-RAY YA KIFUA: {rad1}. {rad2}. Hitimisho: {imp}."],
    rad1=["Kivuli kizito katika sehemu ya chini ya pafu la kulia", "Mapafu ni safi", "Maji katika kifua upande wa kushoto"],
    rad2=["Moyo una ukubwa wa kawaida", "Moyo umepanuka"],
    imp=["nimonia ya pafu la kulia", "hakuna tatizo la ghafla", "maji katika utando wa pafu", "dalili za kifua kikuu"],
    us=[], imp2=[],
    lab=["MAABARA: hemoglobini {hb} g/dL, chembe nyeupe {wbc} x10^9/L, chembe sahani {plt} x10^9/L. Kipimo cha haraka cha malaria: {rdt}. "
         "Sukari {glu} mmol/L."],
    pos=["chanya", "hasi"], pm=["hasi"], xpert=["hakuna kifua kikuu"],
)

L["hi"] = dict(
    sex=["पुरुष", "महिला"], child=["लड़का", "लड़की"],
    complaints=["बुखार", "खांसी", "सांस लेने में कठिनाई", "पेट दर्द", "सिरदर्द", "उल्टी", "दस्त", "सीने में दर्द",
                "त्वचा पर दाने", "दौरे", "पेशाब में जलन", "गर्भावस्था में रक्तस्राव"],
    findings=["दाईं ओर नीचे फेफड़े में क्रेपिटेशन", "गर्दन में अकड़न", "हथेलियों का पीलापन", "धंसी हुई आंखें",
              "सांस लेते समय छाती का नीचे धंसना", "बढ़ी हुई तिल्ली", "दोनों पैरों में सूजन", "आंखों में पीलिया",
              "रक्तचाप {sbp}/{dbp} mmHg"],
    vignette=[
        "{age} वर्ष का/की {sex} {d} दिनों से {c1} की शिकायत के साथ आया/आई है। तापमान {t} °C, नाड़ी {hr} प्रति मिनट, "
        "श्वसन दर {rr} प्रति मिनट, ऑक्सीजन संतृप्ति {spo2}%। जांच में {f1} पाया गया। {plan}",
        "{months} महीने के {child} को उसकी मां {d} दिनों से {c1} के कारण लाई है। वजन {wt} किलो। श्वसन दर {rr} प्रति मिनट; {f1}। {plan}",
    ],
    plans=["राष्ट्रीय दिशानिर्देश के अनुसार उपचार शुरू करें और 48 घंटे बाद फिर देखें।", "तुरंत जिला अस्पताल रेफर करें।",
           "पहली खुराक क्लिनिक में दी गई; परिवार को खतरे के लक्षण समझाए गए।", "खून की जांच, मलेरिया टेस्ट और पेशाब की जांच करवाएं।"],
    triage=["ट्राइएज {time}: {age} वर्ष, {c1}। श्वसन दर {rr}, नाड़ी {hr}, SpO2 {spo2}%, तापमान {t}। श्रेणी: {cat}। {act}"],
    cats=["आपातकालीन (लाल)", "प्राथमिकता (पीला)", "गैर-आपातकालीन (हरा)"],
    acts=["चिकित्सक ने तुरंत देखा।", "ऑक्सीजन शुरू की गई, डॉक्टर को सूचित किया गया।", "प्रतीक्षा कक्ष, 30 मिनट बाद फिर जांचें।"],
    ds=["कोई नहीं"],
    dosing=[
        "{wt} किलो के बच्चे के लिए पैरासिटामोल: आवश्यकता होने पर हर 6 घंटे में {para} मिलीग्राम मुंह से, 24 घंटे में 4 से अधिक खुराक नहीं।",
        "निमोनिया के लिए अमोक्सिसिलिन, {wt} किलो का बच्चा: {amox} मिलीग्राम दिन में दो बार 5 दिनों तक।",
        "ओआरएस से पुनर्जलीकरण, योजना बी, वजन {wt} किलो: 4 घंटे में लगभग {ors} मिलीलीटर ओआरएस, फिर दोबारा जांच।",
        "बिना जटिलता वाले मलेरिया के लिए आर्टेमेथर-ल्यूमेफैंट्रिन, वजन {wt} किलो: {al} गोली दिन में दो बार 3 दिनों तक।",
        "दस्त वाले {months} महीने के बच्चे के लिए जिंक: {zinc} मिलीग्राम दिन में एक बार 10 से 14 दिनों तक।",
    ],
    radiology=["छाती का एक्स-रे: {rad1}। {rad2}। निष्कर्ष: {imp}।"],
    rad1=["दाएं निचले फेफड़े में कंसोलिडेशन", "फेफड़े साफ हैं", "बाईं ओर फुफ्फुस बहाव"],
    rad2=["हृदय का आकार सामान्य है", "हृदय बढ़ा हुआ है"],
    imp=["दाएं निचले लोब का निमोनिया", "कोई तीव्र असामान्यता नहीं", "फुफ्फुस बहाव", "फुफ्फुसीय तपेदिक के संकेत"],
    us=[], imp2=[],
    lab=["प्रयोगशाला रिपोर्ट: हीमोग्लोबिन {hb} g/dL, श्वेत कोशिकाएं {wbc} x10^9/L, प्लेटलेट्स {plt} x10^9/L। मलेरिया रैपिड टेस्ट: {rdt}। "
         "रक्त शर्करा {glu} mmol/L।"],
    pos=["पॉजिटिव", "नेगेटिव"], pm=["नेगेटिव"], xpert=["टीबी नहीं मिला"],
)


def child_weight(rng, months):
    """Roughly the median weight for age (kg), +-15 %."""
    median = 5.0 + 0.38 * months if months < 12 else 9.5 + 0.18 * (months - 12)
    return round(median * rng.uniform(0.85, 1.15), 1)


def values(rng):
    months = rng.randint(2, 59)
    wt = child_weight(rng, months)
    return dict(
        age=rng.randint(16, 85), months=months, rrc=rng.randint(24, 70), d=rng.randint(1, 21), t=round(rng.uniform(36.2, 40.4), 1),
        hr=rng.randint(58, 140), rr=rng.randint(12, 36), spo2=rng.randint(82, 99), sbp=rng.randint(85, 190),
        dbp=rng.randint(50, 120), wt=wt, para=paracetamol_mg(wt), amox=amoxicillin_mg(wt), ors=ors_ml(wt), al=al_tablets(wt),
        time="%02d:%02d" % (rng.randint(0, 23), rng.randint(0, 59)), hb=round(rng.uniform(4.5, 16.5), 1),
        wbc=round(rng.uniform(2.0, 28.0), 1), plt=rng.randint(25, 520), glu=round(rng.uniform(2.0, 28.0), 1),
        cr=rng.randint(40, 600), liv=round(rng.uniform(11, 19), 1), spl=round(rng.uniform(10, 20), 1), ga=rng.randint(6, 40))


def paragraph(lang, rng):
    t = L[lang]
    v = values(rng)
    v["zinc"] = zinc_mg(v["months"])
    v["sex"] = rng.choice(t["sex"])
    v["sex_cap"] = v["sex"][:1].upper() + v["sex"][1:]
    v["sexs"] = v["sex"][:1]
    v["child"] = rng.choice(t["child"])
    c = rng.sample(t["complaints"], 2)
    v["c1"], v["c2"] = c
    f = rng.sample(t["findings"], 2)
    v["f1"], v["f2"] = f[0].format(**v), f[1].format(**v)
    v["plan"] = rng.choice(t["plans"])
    v["cat"], v["act"], v["ds"] = rng.choice(t["cats"]), rng.choice(t["acts"]), rng.choice(t["ds"])
    v["rad1"], v["rad2"], v["imp"] = rng.choice(t["rad1"]), rng.choice(t["rad2"]), rng.choice(t["imp"])
    v["rdt"], v["prot"], v["leu"], v["nit"] = rng.choice(t["pos"]), rng.choice(t["pm"]), rng.choice(t["pm"]), rng.choice(t["pos"])
    v["xpert"] = rng.choice(t["xpert"])
    kinds = ["vignette", "triage", "dosing", "radiology", "lab"]
    weights = [4, 2, 2, 1, 1]
    out = []
    for _ in range(rng.randint(2, 4)):
        k = rng.choices(kinds, weights)[0]
        tpl = rng.choice(t[k])
        if k == "radiology" and t["us"] and "Ultrasound" in tpl:
            v["us"] = rng.choice(t["us"]).format(**v)
            v["imp2"] = rng.choice(t["imp2"])
        # child templates use the child's respiratory rate
        out.append(tpl.format(**(dict(v, rr=v["rrc"]) if "{months}" in tpl else v)))
    return " ".join(out)


def main():
    # characters per language: English gets the most; the rest enough to matter in the imatrix
    budget = {"en": 260000, "fr": 70000, "es": 70000, "pt": 70000, "sw": 60000, "hi": 60000}
    for lang, chars in budget.items():
        rng = random.Random("medge-calibration-" + lang)
        paras, n = [], 0
        while n < chars:
            p = paragraph(lang, rng)
            paras.append(p)
            n += len(p) + 2
        with open(os.path.join(HERE, "clinical-%s.txt" % lang), "w", encoding="utf-8") as f:
            f.write("\n\n".join(paras) + "\n")


if __name__ == "__main__":
    main()
